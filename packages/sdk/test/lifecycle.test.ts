import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, expect, afterEach } from 'vitest';
import {
  startEchoServer,
  openConnection,
  collect,
  freePort,
  waitForPort,
  type TestServer,
} from '../src/testing/index.ts';
import { repoRoot } from './helpers.ts';

// The noop plugin run from source (tsx), so these tests need no prior build. Workers inherit
// the loader and the export condition through execArgv.
const plugin: readonly string[] = [
  '--conditions=@sip003/source',
  '--import',
  'tsx',
  resolve(repoRoot, 'packages/noop-plugin/src/main.ts'),
];
const host = resolve(repoRoot, 'packages/sdk/test/fixtures/host.mjs');
/** Spawns the plugin from the repository root, where `--import tsx` resolves. */
function spawnPlugin(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe'] },
): ChildProcess {
  return spawn(process.execPath, [...plugin, ...args], { ...options, cwd: repoRoot });
}

const pids: number[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const s of servers.splice(0)) await s.close();
});

/** True while the process runs; a zombie (exited, not yet reaped by its new parent) is gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Milliseconds until `pid` is gone, polling every 10 ms up to `limitMs`. */
async function timeToExit(pid: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < limitMs / 10 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return performance.now() - t0;
}

async function freePortEnv(target: number): Promise<NodeJS.ProcessEnv> {
  const port = await freePort();
  return {
    ...process.env,
    SS_REMOTE_HOST: '127.0.0.1',
    SS_REMOTE_PORT: String(target),
    SS_LOCAL_HOST: '127.0.0.1',
    SS_LOCAL_PORT: String(port),
  };
}

/** Resolves once `text()` matches, checked on each chunk the child writes to stderr. */
function untilOutput(child: ChildProcess, text: () => string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pattern.test(text())) return;
      child.stderr!.off('data', check);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (): void => reject(new Error(`exited before ${pattern}; output:\n${text()}`));
    child.stderr!.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

function startPlugin(
  env: NodeJS.ProcessEnv,
  stdin: 'pipe' | 'ignore' = 'pipe',
): { child: ChildProcess; stderr: () => string } {
  const child = spawnPlugin([], { env, stdio: [stdin, 'ignore', 'pipe'] });
  pids.push(child.pid!);
  let text = '';
  // Registered first, so the text is complete whenever a later 'data' listener looks at it.
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (text += t));
  return { child, stderr: () => text };
}

/** The noop plugin on the client side in front of an echo server, with these options, listening. */
async function startListening(
  options: string,
): Promise<{ child: ChildProcess; stderr: () => string; port: number }> {
  const echo = await startEchoServer();
  servers.push(echo);
  const env = await freePortEnv(echo.port);
  env['SS_PLUGIN_OPTIONS'] = options;
  const { child, stderr } = startPlugin(env);
  const port = Number(env['SS_LOCAL_PORT']);
  await waitForPort(port, { child, timeoutMs: 20_000 });
  return { child, stderr, port };
}

/** Server-side env with `workers=N`: listen on a free SS_REMOTE port, dial the echo server. */
async function workersEnv(
  echoPort: number,
  workers: number,
  options = '',
): Promise<{ env: NodeJS.ProcessEnv; port: number }> {
  const env = await freePortEnv(echoPort);
  const port = Number(env['SS_LOCAL_PORT']);
  Object.assign(env, {
    SS_REMOTE_PORT: String(port),
    SS_LOCAL_PORT: String(echoPort),
    SS_PLUGIN_OPTIONS: `server;workers=${workers}${options === '' ? '' : `;${options}`}`,
  });
  return { env, port };
}

/**
 * The noop plugin on the server side (listen on SS_REMOTE, dial SS_LOCAL) with `workers=N`, in
 * front of an echo server; resolves once the primary logged that all workers listen.
 */
async function startWorkers(
  workers: number,
  options = '',
): Promise<{ child: ChildProcess; stderr: () => string; port: number }> {
  const echo = await startEchoServer();
  servers.push(echo);
  const { env, port } = await workersEnv(echo.port, workers, options);
  const { child, stderr } = startPlugin(env);
  // The whole line, pids included: a chunk may end in the middle of it.
  await untilOutput(child, stderr, new RegExp(`${workers} workers listening pids=[0-9,]+\\n`));
  return { child, stderr, port };
}

/** A stand-in host (fixtures/host.mjs) running the plugin with this stdin; both pids. */
async function startHost(
  env: NodeJS.ProcessEnv,
  mode: 'pipe' | 'null',
): Promise<{ hostProc: ChildProcess; pluginPid: number; stderr: () => string }> {
  const hostProc = spawn(process.execPath, [host, mode, process.execPath, ...plugin], {
    env,
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pids.push(hostProc.pid!);
  let text = '';
  hostProc.stderr.setEncoding('utf8').on('data', (t: string) => (text += t));
  const [line] = (await once(createInterface({ input: hostProc.stdout }), 'line')) as [string];
  const pluginPid = Number(line);
  pids.push(pluginPid);
  return { hostProc, pluginPid, stderr: () => text };
}

/** Pids of live worker processes serving `port` (found by their environment in /proc). */
function workersOn(port: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const vars = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (vars.includes('SIP003_WORKER=1') && vars.includes(`SS_REMOTE_PORT=${port}`)) {
        if (alive(Number(entry))) found.push(Number(entry));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * Starts the plugin, connects to `port` as fast as it can (bounded by 5 s) and sends SIGTERM the
 * moment a connection is accepted. Resolves with the exit code, or "killed by SIGNAL".
 */
async function sigtermAtFirstAccept(
  env: NodeJS.ProcessEnv,
  port: number,
): Promise<number | string> {
  const { child, stderr } = startPlugin(env);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const deadline = performance.now() + 5000;
  let accepted = false;
  for (let i = 0; i < 100_000 && !accepted && performance.now() < deadline; i++) {
    try {
      (await openConnection(port)).destroy();
      accepted = true;
    } catch {
      await new Promise((r) => setImmediate(r));
    }
  }
  expect(accepted, `port ${port} never accepted; output:\n${stderr()}`).toBe(true);
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  return code ?? `killed by ${signal ?? '?'}`;
}

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
      expect(alive(pluginPid)).toBe(true);
      hostProc.kill('SIGKILL');
      const ms = await timeToExit(pluginPid, 5000);
      console.info(`exit after host SIGKILL, stdin ${mode}: ${ms.toFixed(0)} ms`);
      expect(alive(pluginPid)).toBe(false);
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
    // Repeated because the window it guards is short: 12 starts, each bounded by 5 s.
    const echo = await startEchoServer();
    servers.push(echo);
    const codes: (number | string)[] = [];
    for (let round = 0; round < 12; round++) {
      const env = await freePortEnv(echo.port);
      codes.push(await sigtermAtFirstAccept(env, Number(env['SS_LOCAL_PORT'])));
    }
    expect(codes).toEqual(Array.from({ length: 12 }, () => 0));
  });

  it('workers=N: stops cleanly (exit 0) on a SIGTERM while the workers are still starting', async () => {
    const echo = await startEchoServer();
    servers.push(echo);
    const codes: (number | string)[] = [];
    for (let round = 0; round < 4; round++) {
      const { env, port } = await workersEnv(echo.port, 2);
      codes.push(await sigtermAtFirstAccept(env, port));
      // No worker outlives its primary.
      for (let i = 0; i < 150 && workersOn(port).length > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(workersOn(port)).toEqual([]);
    }
    expect(codes).toEqual(Array.from({ length: 4 }, () => 0));
  });

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

  it('workers=N: gives up with exit 1 after too many worker restarts in a minute', async () => {
    const { child, stderr } = await startWorkers(2);
    const exited = once(child, 'exit') as Promise<[number | null]>;
    // Kill a live worker, one at a time, until the primary gives up (at most 8). Pids are read
    // from complete lines only, so a line still arriving cannot yield a cut-off pid.
    const killed: number[] = [];
    for (let i = 0; i < 8 && !stderr().includes('too many restarts'); i++) {
      const started = [
        ...[...stderr().matchAll(/pids=([0-9,]+)\n/g)].flatMap((m) => m[1]!.split(',').map(Number)),
        ...[...stderr().matchAll(/started worker (\d+) in its place/g)].map((m) => Number(m[1])),
      ];
      const replaced = [...stderr().matchAll(/worker (\d+) exited/g)].map((m) => Number(m[1]));
      const victim = started.find((pid) => !replaced.includes(pid) && !killed.includes(pid));
      if (victim === undefined) break;
      pids.push(victim);
      killed.push(victim);
      process.kill(victim, 'SIGKILL');
      await untilOutput(child, stderr, new RegExp(`worker ${victim} exited`));
    }
    const [code] = await exited;
    expect(code).toBe(1);
    expect(stderr()).toContain('too many restarts, giving up');
  });

  it('workers=N with stdin /dev/null: everything is gone within 1 s after the host is SIGKILLed, even while draining', async () => {
    const echo = await startEchoServer();
    servers.push(echo);
    // A long drain and an open connection: a host that is gone must not wait for either.
    const { env, port } = await workersEnv(echo.port, 2, 'drain-timeout=30');
    const { hostProc, pluginPid, stderr } = await startHost(env, 'null');
    await untilOutput(hostProc, stderr, /2 workers listening pids=[0-9,]+\n/);
    const workers = workersOn(port);
    expect(workers).toHaveLength(2);
    pids.push(...workers);
    const socket = await openConnection(port);
    socket.on('error', () => undefined);
    socket.write('held open');
    await once(socket, 'data');
    hostProc.kill('SIGKILL');
    const t0 = performance.now();
    for (const pid of [pluginPid, ...workers]) await timeToExit(pid, 5000);
    const ms = performance.now() - t0;
    console.info(`workers=2, stdin /dev/null: all gone ${ms.toFixed(0)} ms after host SIGKILL`);
    expect([pluginPid, ...workers].filter(alive)).toEqual([]);
    expect(ms).toBeLessThan(1000);
    socket.destroy();
  });

  it('workers=N: max-connections holds for the plugin as a whole, and no worker refuses while there is room', async () => {
    const { child, port } = await startWorkers(2, 'max-connections=4');
    pids.push(...workersOn(port));
    /** A connection that the echo answers through the plugin, or undefined if it was reset. */
    const attempt = async (): Promise<Socket | undefined> => {
      // A refused connection may be reset before it even counts as connected here.
      const s = await openConnection(port).catch(() => undefined);
      if (s === undefined) return undefined;
      s.on('error', () => undefined);
      s.write('x');
      const kept = await new Promise<boolean>((resolve) => {
        s.once('data', () => resolve(true));
        s.once('close', () => resolve(false));
      });
      return kept ? s : undefined;
    };
    const burst = async (n: number): Promise<Socket[]> =>
      (await Promise.all(Array.from({ length: n }, attempt))).filter(
        (s): s is Socket => s !== undefined,
      );
    // Concurrent bursts spread over both workers: 4 get in, whichever worker accepts them.
    let kept = await burst(12);
    expect(kept).toHaveLength(4);
    for (let round = 0; round < 3; round++) {
      const closed = kept.map((s) => once(s, 'close'));
      for (const s of kept) s.end();
      await Promise.all(closed);
      // A slot comes back once the worker has seen its connection close: retry, bounded.
      kept = [];
      for (let i = 0; i < 100 && kept.length < 4; i++) {
        kept.push(...(await burst(4 - kept.length)));
        if (kept.length < 4) await new Promise((r) => setTimeout(r, 20));
      }
      expect(kept, `round ${round}: all 4 slots are usable again`).toHaveLength(4);
      expect(await burst(8), `round ${round}: no 5th connection`).toHaveLength(0);
    }
    for (const s of kept) s.destroy();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('runs workers=N on the server side: shared socket, all serve, SIGTERM stops them all', async () => {
    const { child, stderr, port } = await startWorkers(2);
    const pidsText = /pids=([0-9,]+)/.exec(stderr())?.[1] ?? '';
    const workers = pidsText.split(',').map(Number);
    expect(workers).toHaveLength(2);
    pids.push(...workers);
    const replies = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const s = await openConnection(port);
        const got = collect(s);
        s.end(`conn ${i}`);
        return (await got).toString();
      }),
    );
    expect(replies).toEqual(Array.from({ length: 40 }, (_, i) => `conn ${i}`));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    for (const pid of workers) expect(await timeToExit(pid, 3000)).toBeLessThan(3000);
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
      'noop-plugin: SS_PLUGIN_OPTIONS: dangling "\\" at position 16 in "drain-timeout=x\\\\" (escape it as "\\\\")',
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
