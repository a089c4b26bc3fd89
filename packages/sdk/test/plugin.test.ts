import { describe, it, expect } from 'vitest';
import { definePlugin, option, ProtocolError, runPlugin } from '../src/index.ts';
import { openConnection, startEchoServer } from '../src/testing/index.ts';
import { closeAfterEach, logCollector } from './helpers.ts';
import buggyPlugin from './fixtures/buggy-plugin.ts';

const later = closeAfterEach();

const plain = definePlugin({ name: 'plain' });

describe('definePlugin', () => {
  it('refuses a plugin that redeclares a common option, at compile time and at run time', () => {
    expect(() =>
      definePlugin({
        name: 'sneaky',
        // @ts-expect-error -- "server" is the SDK's: it decides the mode
        options: { server: option.flag(), key: option.int({ default: 1 }) },
      }),
    ).toThrow(
      new TypeError(
        'definePlugin: option "server" is one of the SDK\'s common options (server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers); a plugin cannot redeclare it',
      ),
    );
  });

  it('refuses a nameless plugin and a session that is not a function', () => {
    expect(() => definePlugin({ name: '' })).toThrow(
      new TypeError('definePlugin: name must be a non-empty string'),
    );
    expect(() => definePlugin({ name: 'x', session: {} as never })).toThrow(TypeError);
  });
});

describe('mode and listening', () => {
  it('hints at the missing "server" flag when SS_LOCAL is taken in client mode', async () => {
    const taken = later(await startEchoServer());
    const error = await runPlugin(plain, {
      env: {
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: '8388',
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: String(taken.port),
      },
      logSink: () => undefined,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'SIP003_LISTEN_FAILED',
      message: `cannot listen on 127.0.0.1:${taken.port}: address already in use (EADDRINUSE); something already listens there: if this is the server side (ss-server), add "server" to the plugin options`,
    });
  });

  it('says a 0.0.0.0 SS_REMOTE_HOST means server mode', async () => {
    await expect(
      runPlugin(plain, {
        env: {
          SS_REMOTE_HOST: '0.0.0.0',
          SS_REMOTE_PORT: '8388',
          SS_LOCAL_HOST: '127.0.0.1',
          SS_LOCAL_PORT: '1080',
          SS_PLUGIN_OPTIONS: '',
        },
      }),
    ).rejects.toMatchObject({
      code: 'SIP003_MODE_MISMATCH',
      message:
        'SS_REMOTE_HOST is "0.0.0.0", an address to listen on, so this is the server side; add "server" to the plugin options (SS_PLUGIN_OPTIONS="")',
    });
  });
});

describe('peer-triggered warnings', () => {
  it('logs one line for a flood of refused connections, and sums the rest up at close', async () => {
    const echo = later(await startEchoServer());
    const { lines, sink } = logCollector();
    const handle = await runPlugin(plain, {
      env: {
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: String(echo.port),
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: '1',
        SS_PLUGIN_OPTIONS: 'max-connections=1',
      },
      listenPort: 0,
      logSink: sink,
    });
    const port = handle.addresses[0]!.port;
    const held = await openConnection(port);
    held.on('error', () => undefined);
    held.write('x');
    await new Promise((resolve) => held.once('data', resolve));
    for (let i = 0; i < 30; i++) {
      const s = await openConnection(port).catch(() => undefined);
      if (s === undefined) continue;
      s.on('error', () => undefined);
      await new Promise((resolve) => s.once('close', resolve));
    }
    expect(handle.stats.dropped).toBe(30);
    const refusals = (): string[] => lines.filter((l) => l.includes('refused'));
    expect(refusals()).toEqual(['plain warn max-connections (1) reached; connection refused']);
    held.destroy();
    await handle.close(0);
    expect(refusals()).toEqual([
      'plain warn max-connections (1) reached; connection refused',
      'plain warn refused 29 more connections in the last 1 s (max-connections=1)',
    ]);
  });

  it('logs one line for a flood of protocol errors, and sums the rest up at close', async () => {
    const echo = later(await startEchoServer());
    const { lines, sink } = logCollector();
    const strict = definePlugin({
      name: 'strict',
      session: () => ({
        decode: {
          transform() {
            throw new ProtocolError('not our protocol');
          },
        },
      }),
    });
    const handle = await runPlugin(strict, {
      env: {
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: '1',
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: String(echo.port),
        SS_PLUGIN_OPTIONS: 'server',
      },
      listenPort: 0,
      logSink: sink,
    });
    for (let i = 0; i < 20; i++) {
      const s = await openConnection(handle.addresses[0]!.port);
      s.on('error', () => undefined);
      s.write('garbage');
      await new Promise((resolve) => s.once('close', resolve));
    }
    const failures = (): string[] => lines.filter((l) => l.includes('failed'));
    expect(failures()).toHaveLength(1);
    expect(failures()[0]).toMatch(/^strict warn connection failed: not our protocol conn=1 /);
    // A peer's garbage is not a bug: no stack.
    expect(failures()[0]).not.toContain('stack=');
    await handle.close(0);
    expect(failures().slice(1)).toEqual([
      'strict warn 19 more connections failed (SIP003_PROTOCOL) in the last 1 s',
    ]);
  });
});

/** A server-side plugin in front of an echo server, its log collected. */
async function serverInFrontOfEcho(plugin: Parameters<typeof runPlugin>[0], options = 'server') {
  const echo = later(await startEchoServer());
  const log = logCollector();
  const handle = await runPlugin(plugin, {
    env: {
      SS_REMOTE_HOST: '127.0.0.1',
      SS_REMOTE_PORT: '1',
      SS_LOCAL_HOST: '127.0.0.1',
      SS_LOCAL_PORT: String(echo.port),
      SS_PLUGIN_OPTIONS: options,
    },
    listenPort: 0,
    logSink: log.sink,
  });
  return { handle, ...log };
}

/** Writes `data` and resolves with how the connection ended: the echo, `reset` or `end`. */
async function exchange(port: number, data: string): Promise<string> {
  // A reset may come before the connect is reported.
  const s = await openConnection(port).catch((error: unknown) => error as NodeJS.ErrnoException);
  if (s instanceof Error) return s.code === 'ECONNRESET' ? 'reset' : s.message;
  let echoed = '';
  s.on('data', (chunk: Buffer) => {
    echoed += chunk.toString();
    if (echoed.length >= data.length) s.end();
  });
  s.write(data);
  return new Promise((resolve) => {
    s.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNRESET' ? 'reset' : error.message),
    );
    s.once('close', () => resolve(echoed === data ? echoed : 'end'));
  });
}

describe('a bug in a codec', () => {
  it('is logged at error level with its stack, once per site; the connection is reset and the plugin goes on', async () => {
    const { handle, lines } = await serverInFrontOfEcho(buggyPlugin);
    const port = handle.addresses[0]!.port;
    for (let i = 0; i < 6; i++) expect(await exchange(port, 'Boom')).toBe('reset');
    expect(await exchange(port, 'fine')).toBe('fine');
    expect(lines).toHaveLength(2); // the listening line and the bug
    const bug = lines[1]!;
    expect(bug).toMatch(
      /^buggy-plugin error connection failed on a bug in the plugin, connection reset: TypeError: Cannot read properties of undefined \(reading 'skip'\) conn=1 in=4 out=0 stack="at /,
    );
    // The top frame is the fixture's line with the bug.
    expect(bug).toMatch(/stack="at [^"]*buggy-plugin\.ts:17:\d+/);
    expect(handle.stats.failed).toBe(6);
    await handle.close(0);
    expect(lines.slice(2)).toEqual([
      expect.stringMatching(
        /^buggy-plugin error 5 more connections failed on the same bug \(TypeError at .*buggy-plugin\.ts:17:\d+\)\) in the last \d+ s$/,
      ),
    ]);
  });

  it('in the session factory is logged the same way, and the connection is reset', async () => {
    const broken = definePlugin({
      name: 'broken-factory',
      session: () => {
        throw new RangeError('no sessions today');
      },
    });
    const { handle, lines } = await serverInFrontOfEcho(broken);
    expect(await exchange(handle.addresses[0]!.port, 'x')).toBe('reset');
    expect(lines[1]).toMatch(
      /^broken-factory error session failed to start on a bug in the plugin, connection reset: RangeError: no sessions today conn=1 stack="at .*plugin\.test\.ts:/,
    );
    await handle.close(0);
  });
});

describe('the accept line at log-level=debug', () => {
  it('names each accepted peer, at most 20 a second, and counts the rest (closed lines too)', async () => {
    const { handle, lines } = await serverInFrontOfEcho(plain, 'server;log-level=debug');
    const port = handle.addresses[0]!.port;
    const s = await openConnection(port);
    const from = `127.0.0.1:${String(s.localPort)}`;
    s.end();
    await new Promise((resolve) => s.once('close', resolve));
    expect(lines).toContain(`plain debug accept conn=1 from ${from}`);
    for (let i = 0; i < 59; i++) {
      const t = await openConnection(port);
      t.end();
      await new Promise((resolve) => t.once('close', resolve));
    }
    await handle.close(0);
    const accepted = lines.filter((l) => / debug accept conn=\d+ from 127\.0\.0\.1:\d+$/.test(l));
    const counted = lines
      .map((l) => /^plain debug accepted (\d+) more connections in the last \d+ s$/.exec(l)?.[1])
      .filter((n) => n !== undefined)
      .reduce((sum, n) => sum + Number(n), 0);
    // Every accept is either printed or counted, and a burst of 60 is not printed line by line
    // (60 connections would need 3 s of a loaded machine for them all to be printed).
    expect(accepted.length + counted).toBe(60);
    expect(counted).toBeGreaterThan(0);
    // The closed lines are bounded the same way.
    const closed = lines.filter((l) => / debug closed conn=\d+ in=0 out=0$/.test(l));
    const closedCounted = lines
      .map((l) => /^plain debug (\d+) more connections closed in the last \d+ s$/.exec(l)?.[1])
      .filter((n) => n !== undefined)
      .reduce((sum, n) => sum + Number(n), 0);
    expect(closed.length + closedCounted).toBe(60);
    expect(closedCounted).toBeGreaterThan(0);
  });

  it('is not there at the default level', async () => {
    const { handle, lines } = await serverInFrontOfEcho(plain);
    expect(await exchange(handle.addresses[0]!.port, 'x')).toBe('x');
    await handle.close(0);
    expect(lines.filter((l) => l.includes('accept'))).toEqual([]);
  });
});
