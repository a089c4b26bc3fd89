// The plugin `dial` hook and the relay's asynchronous connect, which a PT's SOCKS5 dial needs
// (src/plugin.ts `dial`, src/relay.ts `connect` returning a promise).
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import { definePlugin, runPlugin, type Endpoint, type PluginHandle } from '../../src/index.ts';
import {
  startEchoServer,
  collect,
  openConnection,
  seededBytes,
  sha256,
  writeChunked,
  type TestServer,
} from '../../src/testing/index.ts';
import { logCollector } from '../helpers.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A client plugin whose SS_REMOTE is a closed port: only the `dial` hook can reach anything. */
async function startWithDial(
  dial: (target: Endpoint, ctx: { signal: AbortSignal }) => Socket | Promise<Socket>,
  options = '',
): Promise<{ handle: PluginHandle; port: number; lines: string[] }> {
  const log = logCollector();
  const plugin = definePlugin({ name: 'dial-hook-test', dial });
  const handle = await runPlugin(plugin, {
    env: {
      SS_REMOTE_HOST: '127.0.0.1',
      SS_REMOTE_PORT: '1',
      SS_LOCAL_HOST: '127.0.0.1',
      SS_LOCAL_PORT: '1080',
      SS_PLUGIN_OPTIONS: options,
    },
    listenPort: 0,
    logSink: log.sink,
  });
  cleanups.push(() => handle.close(0));
  return { handle, port: handle.addresses[0]!.port, lines: log.lines };
}

async function echo(): Promise<TestServer> {
  const server = await startEchoServer();
  cleanups.push(() => server.close());
  return server;
}

/** Resolves when the handle has no open connection (bounded). */
async function settled(handle: PluginHandle): Promise<void> {
  for (let i = 0; i < 300 && handle.stats.active > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
}

describe('plugin dial hook with an asynchronous connect', () => {
  it('holds every byte and the FIN while the dial resolves, then relays them in order', async () => {
    const server = await echo();
    const targets: Endpoint[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { port } = await startWithDial(async (target) => {
      targets.push(target);
      await gate; // the client writes everything, FIN included, before this resolves
      const socket = connect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
      await once(socket, 'connect');
      return socket;
    });
    const data = seededBytes(2 * 1024 * 1024, 3);
    const client = await openConnection(port);
    const reply = collect(client, 20_000);
    await writeChunked(client, data, [1000, 65536, 7], true);
    for (let i = 0; i < 200 && targets.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(targets).toEqual([{ host: '127.0.0.1', port: 1 }]);
    release();
    // The echo half-closes only after our FIN reached it: the reply ending proves the FIN went on.
    expect(sha256(await reply)).toBe(sha256(data));
  });

  it('fails the connection as a dial failure when the dial rejects (reset, logged, counted)', async () => {
    const { handle, port, lines } = await startWithDial(() =>
      Promise.reject(new Error('no route through the transport')),
    );
    const client = await openConnection(port);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const errors: string[] = [];
    client.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    client.write('hello');
    await closed;
    await settled(handle);
    expect(errors).toEqual(['ECONNRESET']);
    expect(handle.stats.failed).toBe(1);
    expect(lines.join('\n')).toMatch(
      /warn connection failed: cannot connect to 127\.0\.0\.1:1: no route through the transport .*code=SIP003_DIAL_FAILED/,
    );
  });

  it('connect-timeout covers a dial that never resolves, and aborts its signal', async () => {
    let aborted = false;
    const { handle, port, lines } = await startWithDial(
      (_target, ctx) =>
        new Promise<Socket>(() => {
          ctx.signal.addEventListener('abort', () => (aborted = true));
        }),
      'connect-timeout=0.3',
    );
    const client = await openConnection(port);
    client.on('error', () => undefined);
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    const t0 = performance.now();
    client.write('hello');
    await closed;
    const ms = performance.now() - t0;
    await settled(handle);
    expect(ms).toBeGreaterThan(250);
    expect(ms).toBeLessThan(5000);
    expect(aborted).toBe(true);
    expect(lines.join('\n')).toMatch(/no connection within 0\.3 s .*code=SIP003_DIAL_FAILED/);
  });

  it('destroys a socket that arrives after the connection timed out', async () => {
    const server = await echo();
    let late: Socket | undefined;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { handle, port } = await startWithDial(async () => {
      await gate;
      late = connect({ host: '127.0.0.1', port: server.port });
      late.on('error', () => undefined);
      return late;
    }, 'connect-timeout=0.2');
    const client = await openConnection(port);
    client.on('error', () => undefined);
    client.write('x');
    for (let i = 0; i < 300 && handle.stats.failed === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(handle.stats.failed).toBe(1);
    release();
    for (let i = 0; i < 300 && late?.destroyed !== true; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(late?.destroyed).toBe(true);
    expect(server.accepted).toBeLessThanOrEqual(1);
  });
});
