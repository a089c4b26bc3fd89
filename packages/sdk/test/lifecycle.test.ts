import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import {
  startEchoServer,
  openConnection,
  collect,
  waitForPort,
  isRunning,
} from '../src/testing/index.ts';
import {
  drainFor,
  ExitCode,
  startLifecycle,
  type Lifecycle,
  type StopReason,
  type Stoppable,
} from '../src/lifecycle.ts';
import { createLogger } from '../src/log.ts';
import {
  cleanup,
  freePortEnv,
  pids,
  servers,
  sigtermAtFirstAccept,
  spawnPlugin,
  startHost,
  startListening,
  startPlugin,
  timeToExit,
  untilOutput,
} from './plugin-process.ts';

afterEach(cleanup);

describe('plugin lifecycle (noop-plugin from source)', () => {
  for (const mode of ['pipe', 'null'] as const) {
    it(`exits within 1 s after its host is SIGKILLed (stdin ${mode === 'pipe' ? 'a pipe, as ss-libev' : '/dev/null, as shadowsocks-rust'})`, async () => {
      const echo = await startEchoServer();
      servers.push(echo);
      const env = await freePortEnv(echo.port);
      const { hostProc, pluginPid } = await startHost(env, mode);
      await waitForPort(Number(env['SS_LOCAL_PORT']), { timeoutMs: 20_000 });
      // With /dev/null as stdin the plugin must live on while the host lives: a check that
      // nothing happens has no event to wait for, so it waits several parent-watch periods.
      if (mode === 'null') await new Promise((r) => setTimeout(r, 1200));
      expect(isRunning(pluginPid)).toBe(true);
      hostProc.kill('SIGKILL');
      const ms = await timeToExit(pluginPid, 5000);
      console.info(`exit after host SIGKILL, stdin ${mode}: ${ms.toFixed(0)} ms`);
      expect(isRunning(pluginPid)).toBe(false);
      expect(ms).toBeLessThan(1000);
    });
  }

  it('drains on SIGTERM: stops accepting, lets open connections finish, exits 0', async () => {
    const { child, stderr, port } = await startListening('drain-timeout=2');
    const socket = await openConnection(port);
    const got = collect(socket);
    socket.write('before ');
    await once(socket, 'data');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await untilOutput(child, stderr, /draining 1 connection/);
    await expect(openConnection(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    socket.end('after');
    expect((await got).toString()).toBe('before after');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    expect(stderr()).toMatch(/noop-plugin info stopping \(SIGTERM\)/);
  });

  it('survives a closed stderr (EPIPE) and still stops cleanly', async () => {
    const { child, port } = await startListening('log-level=debug');
    // The host closes its end of our stderr (a daemonized host did exactly that).
    child.stderr!.destroy();
    // Every connection now logs at debug into a broken pipe.
    for (let i = 0; i < 5; i++) {
      const s = await openConnection(port);
      const got = collect(s);
      s.end(`ping ${i}`);
      expect((await got).toString()).toBe(`ping ${i}`);
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
  });

  it('stops cleanly (exit 0) on a SIGTERM sent the moment its port first accepts', async () => {
    // A host may signal as soon as the port answers; the handlers must already be in place.
    // Repeated because the window it guards is short: 12 starts, each bounded by 20 s.
    const echo = await startEchoServer();
    servers.push(echo);
    const codes: (number | string)[] = [];
    for (let round = 0; round < 12; round++) {
      const env = await freePortEnv(echo.port);
      codes.push(await sigtermAtFirstAccept(env, Number(env['SS_LOCAL_PORT'])));
    }
    expect(codes).toEqual(Array.from({ length: 12 }, () => 0));
  }, 240_000);

  it('exits at once with 143 on a second SIGTERM', async () => {
    const { child, stderr, port } = await startListening('drain-timeout=30');
    const socket = await openConnection(port);
    socket.on('error', () => undefined);
    socket.write('hold the drain open');
    await once(socket, 'data');
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await untilOutput(child, stderr, /draining 1 connection/);
    const t0 = performance.now();
    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    expect(code).toBe(143);
    expect(performance.now() - t0).toBeLessThan(1000);
    socket.destroy();
  });

  it.each([
    [
      { SS_REMOTE_PORT: 'http' },
      2,
      'noop-plugin: SS_REMOTE_PORT must be an integer from 1 to 65535, got "http"',
    ],
    [
      { SS_LOCAL_HOST: undefined },
      2,
      'noop-plugin: SS_LOCAL_HOST must be a host name or IP address (several joined with "|"), it is not set',
    ],
    [
      { SS_PLUGIN_OPTIONS: 'fast-opne' },
      2,
      'noop-plugin: unknown option "fast-opne"; did you mean "fast-open"? (known: server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers)',
    ],
    [
      { SS_PLUGIN_OPTIONS: 'drain-timeout=x\\' },
      2,
      'noop-plugin: SS_PLUGIN_OPTIONS: dangling "\\" at position 16, the end of the value of "drain-timeout" (escape it as "\\\\")',
    ],
    [
      { SS_REMOTE_HOST: '0.0.0.0' },
      2,
      'noop-plugin: SS_REMOTE_HOST is "0.0.0.0", an address to listen on, so this is the server side; add "server" to the plugin options (SS_PLUGIN_OPTIONS="")',
    ],
  ])('bad configuration %j → exit %i and one line', async (patch, code, line) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SS_REMOTE_HOST: '127.0.0.1',
      SS_REMOTE_PORT: '8388',
      SS_LOCAL_HOST: '127.0.0.1',
      SS_LOCAL_PORT: '1',
      SS_PLUGIN_OPTIONS: '',
    };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const { child, stderr } = startPlugin(env);
    const [exit] = (await once(child, 'exit')) as [number];
    expect(exit).toBe(code);
    expect(stderr()).toBe(`${line}\n`);
  });

  it('exits 3 with one line when it cannot listen', async () => {
    const taken = await startEchoServer();
    servers.push(taken);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SS_REMOTE_HOST: '127.0.0.1',
      SS_REMOTE_PORT: '8388',
      SS_LOCAL_HOST: '127.0.0.1',
      SS_LOCAL_PORT: String(taken.port),
    };
    const { child, stderr } = startPlugin(env);
    const [exit] = (await once(child, 'exit')) as [number];
    expect(exit).toBe(3);
    expect(stderr().trim().split('\n')).toHaveLength(1);
    expect(stderr()).toContain(
      'address already in use (EADDRINUSE); something already listens there: if this is the server side (ss-server), add "server" to the plugin options',
    );
  });

  it('answers --version and --help, and tolerates -V with a warning', async () => {
    const version = spawnPlugin(['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collectText(version);
    expect((await once(version, 'exit'))[0]).toBe(0);
    expect(await out).toMatch(/^noop-plugin \d+\.\d+\.\d+/);
    const help = spawnPlugin(['--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const helpOut = collectText(help);
    expect((await once(help, 'exit'))[0]).toBe(0);
    expect(await helpOut).toContain(
      'Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration, 3 cannot listen',
    );

    const echo = await startEchoServer();
    servers.push(echo);
    const env = await freePortEnv(echo.port);
    const child = spawnPlugin(['-V'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    pids.push(child.pid!);
    let text = '';
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (text += t));
    await waitForPort(Number(env['SS_LOCAL_PORT']), { child, timeoutMs: 20_000 });
    expect(text).toContain('noop-plugin warn argument -V: Android VPN mode');
    child.kill('SIGTERM');
    expect((await once(child, 'exit'))[0]).toBe(0);
  });
});

function collectText(child: ChildProcess): Promise<string> {
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (text += t));
  return once(child, 'exit').then(() => text);
}

describe('startLifecycle (in process)', () => {
  it.each([
    ['SIGTERM', 3000],
    ['SIGINT', 3000],
    ['SIGHUP', 3000],
    ['stdin-closed', 0],
    ['parent-exited', 0],
    ['workers-failed', 0],
    ['fatal-error', 0],
  ] as const)('drainFor(%s) → %i ms: only a signal drains', (reason, ms) => {
    expect(drainFor(reason, 3000)).toBe(ms);
  });

  /** A lifecycle whose exit codes and stops are recorded instead of acted on. */
  function recorded(): {
    lifecycle: Lifecycle;
    exits: number[];
    stops: [number, StopReason][];
    lines: string[];
    work: Stoppable;
  } {
    const exits: number[] = [];
    const stops: [number, StopReason][] = [];
    const lines: string[] = [];
    const log = createLogger({ name: 'p', sink: (l) => lines.push(l) });
    const lifecycle = startLifecycle({ log, drainMs: 3000, exit: (code) => exits.push(code) });
    const work: Stoppable = {
      stop: (drainMs, reason) => {
        stops.push([drainMs, reason]);
        return Promise.resolve();
      },
      abort: () => undefined,
    };
    return { lifecycle, exits, stops, lines, work };
  }

  it('runs one shutdown: logs why, stops with the drain the reason allows, exits once', async () => {
    const { lifecycle, exits, stops, lines, work } = recorded();
    lifecycle.attach(work);
    lifecycle.shutdown('parent-exited');
    lifecycle.shutdown('SIGTERM');
    await Promise.resolve();
    expect(stops).toEqual([[0, 'parent-exited']]);
    expect(lines).toEqual(['p info stopping (parent-exited)']);
    expect(exits).toEqual([0]);
  });

  it('holds a shutdown asked for before anything runs, and runs it on attach', async () => {
    const { lifecycle, exits, stops, work } = recorded();
    lifecycle.shutdown('SIGTERM');
    expect(stops).toEqual([]);
    lifecycle.attach(work);
    await Promise.resolve();
    expect(stops).toEqual([[3000, 'SIGTERM']]);
    expect(exits).toEqual([0]);
  });

  it('ends at once on a fatal error before anything runs, with its exit code', async () => {
    const { lifecycle, exits, stops, work } = recorded();
    lifecycle.shutdown('fatal-error', ExitCode.INTERNAL);
    expect(exits).toEqual([70]);
    expect(stops).toEqual([]);
    // A real exit would have ended the process; here a stop removes the signal handlers.
    lifecycle.attach(work);
    lifecycle.shutdown('SIGTERM');
    await Promise.resolve();
    expect(process.listenerCount('SIGTERM')).toBe(0);
  });
});
