import { describe, it, expect } from 'vitest';
import { definePlugin, option, ProtocolError, runPlugin } from '../src/index.ts';
import { openConnection, startEchoServer } from '../src/testing/index.ts';
import { closeAfterEach, logCollector } from './helpers.ts';

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
    await handle.close(0);
    expect(failures().slice(1)).toEqual([
      'strict warn 19 more connections failed (SIP003_PROTOCOL) in the last 1 s',
    ]);
  });
});
