import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it, expect } from 'vitest';
import { definePlugin, runPlugin, type PluginHandle } from '../src/index.ts';
import { countingGate, listen, type ConnectionGate } from '../src/listener.ts';
import { collect, openConnection, startEchoServer, type TestServer } from '../src/testing/index.ts';
import { closeAfterEach, echoedOrReset } from './helpers.ts';

const later = closeAfterEach();

const plain = definePlugin({ name: 'plain' });

describe('listen', () => {
  /** An echo listener behind `gate`; returns it and the count of refusals. */
  const echoBehind = async (gate: ConnectionGate) => {
    let drops = 0;
    const listener = await listen(
      { hosts: ['127.0.0.1'], port: 0, gate, onDrop: () => drops++ },
      (socket) => {
        socket.on('error', () => undefined);
        socket.pipe(socket);
      },
    );
    later(listener);
    return { listener, port: listener.addresses[0]!.port, drops: () => drops };
  };
  const echoes = echoedOrReset;

  it('accepts and resets the connections over its gate (the kernel accept cannot refuse)', async () => {
    const { listener, port, drops } = await echoBehind(countingGate(2));
    const first = await echoes(port);
    const second = await echoes(port);
    expect(await echoes(port)).toBeUndefined();
    expect(drops()).toBe(1);
    expect(listener.connections.size).toBe(2);
    const closed = once(first!, 'close');
    first!.destroy();
    await closed;
    // The slot comes back when the listener sees the close.
    let third: Socket | undefined;
    for (let i = 0; i < 50 && third === undefined; i++) third = await echoes(port);
    expect(third).toBeDefined();
    second!.destroy();
    third!.destroy();
  });

  it('waits for an asynchronous gate and releases every slot it was given', async () => {
    let open = 0;
    const gate: ConnectionGate = {
      acquire: () => new Promise((resolve) => setImmediate(() => resolve(open < 1 && ++open > 0))),
      release: () => {
        open--;
      },
    };
    const { port } = await echoBehind(gate);
    const kept = await echoes(port);
    expect(kept).toBeDefined();
    expect(await echoes(port)).toBeUndefined();
    const closed = once(kept!, 'close');
    kept!.destroy();
    await closed;
    for (let i = 0; i < 50 && open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(0);
  });

  it('releases the slot of a peer that left while the gate was deciding (a port probe)', async () => {
    // workers=N: the answer comes from the primary. A probe that connects and closes in the
    // meantime had its 'end' emitted before anything listened, and held its slot for good.
    let open = 0;
    let decide!: () => void;
    const asked = new Promise<void>((resolve) => {
      const gate: ConnectionGate = {
        acquire: () =>
          new Promise((answer) => {
            decide = () => answer(++open > 0);
            resolve();
          }),
        release: () => {
          open--;
        },
      };
      // The relay's way of reading (an 'end' listener), not pipe(), which copes with an end
      // that was emitted before it was called.
      const listening = listen({ hosts: ['127.0.0.1'], port: 0, gate }, (socket) => {
        socket.on('error', () => undefined);
        socket.on('end', () => socket.end());
        socket.resume();
      });
      void listening.then((listener) => {
        later(listener);
        return openConnection(listener.addresses[0]!.port).then((probe) => {
          probe.on('error', () => undefined);
          probe.destroy();
        });
      });
    });
    await asked;
    // Nothing on the plugin's side can be awaited here: the probe's FIN just arrives and its
    // 'end' fires unobserved; give it that long, then answer.
    await new Promise((r) => setTimeout(r, 200));
    decide();
    for (let i = 0; i < 100 && open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(0);
  });
});

describe('listening through a plugin', () => {
  it('listens on every host of an a|b list, dual-stack, with one port', async () => {
    const echo: TestServer = later(await startEchoServer());
    const handle: PluginHandle = later(
      await runPlugin(plain, {
        env: {
          SS_REMOTE_HOST: '127.0.0.1|::1',
          SS_REMOTE_PORT: '1',
          SS_LOCAL_HOST: '127.0.0.1',
          SS_LOCAL_PORT: String(echo.port),
          SS_PLUGIN_OPTIONS: 'server',
        },
        listenPort: 0,
        logSink: () => undefined,
      }),
    );
    expect(handle.addresses).toHaveLength(2);
    const port = handle.addresses[0]!.port;
    expect(handle.addresses[1]!.port).toBe(port);
    for (const host of ['127.0.0.1', '::1']) {
      const s = await openConnection(port, host);
      const got = collect(s);
      s.end(host);
      expect((await got).toString()).toBe(host);
    }
  });
});

describe('dual-stack listening', () => {
  const start = async (hosts: string, echoPort: number): Promise<PluginHandle> =>
    later(
      await runPlugin(plain, {
        env: {
          SS_REMOTE_HOST: hosts,
          SS_REMOTE_PORT: '1',
          SS_LOCAL_HOST: '127.0.0.1',
          SS_LOCAL_PORT: String(echoPort),
          SS_PLUGIN_OPTIONS: 'server',
        },
        listenPort: 0,
        logSink: () => undefined,
      }),
    );
  const roundTrip = async (port: number, host: string): Promise<string> => {
    const s = await openConnection(port, host);
    const got = collect(s);
    s.end(host);
    return (await got).toString();
  };

  it('"::" alone accepts IPv4 and IPv6 clients on one socket', async () => {
    const echo = later(await startEchoServer());
    const handle = await start('::', echo.port);
    expect(handle.addresses).toHaveLength(1);
    const port = handle.addresses[0]!.port;
    expect(await roundTrip(port, '127.0.0.1')).toBe('127.0.0.1');
    expect(await roundTrip(port, '::1')).toBe('::1');
  });

  it('"0.0.0.0|::" binds each family on its own socket instead of failing with EADDRINUSE', async () => {
    const echo = later(await startEchoServer());
    const handle = await start('0.0.0.0|::', echo.port);
    expect(handle.addresses.map((a) => a.host)).toEqual(['0.0.0.0', '::']);
    const port = handle.addresses[0]!.port;
    expect(await roundTrip(port, '127.0.0.1')).toBe('127.0.0.1');
    expect(await roundTrip(port, '::1')).toBe('::1');
  });
});
