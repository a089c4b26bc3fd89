import { connect, createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Transform } from 'node:stream';
import { describe, it, expect, afterEach } from 'vitest';
import { definePlugin, runPlugin, option, ProtocolError, type Codec } from '../src/index.ts';
import {
  startPluginPair,
  startEchoServer,
  collect,
  openConnection,
  seededBytes,
  writeChunked,
  checkCodecRoundTrip,
  endedByReset,
} from '../src/testing/index.ts';
import { resetSocket } from '../src/relay.ts';
import { logCollector } from './helpers.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
function later<T extends { close(): Promise<unknown> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

/** A server whose handler gets each socket; tracks and destroys them at cleanup. */
async function startServer(
  handler: (socket: Socket) => void,
): Promise<{ port: number; server: Server; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    handler(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** xor codec with a 2-byte length-prefixed frame per chunk: real framing, split anywhere. */
function framing(): { encode: Codec; decode: Codec } {
  let pending: Buffer = Buffer.alloc(0);
  return {
    encode: {
      transform(chunk, push) {
        const header = Buffer.alloc(2);
        for (let off = 0; off < chunk.length; off += 65535) {
          const part = chunk.subarray(off, off + 65535);
          header.writeUInt16BE(part.length);
          push(Buffer.from(header));
          push(part.map((b) => b ^ 0x55));
        }
      },
    },
    decode: {
      transform(chunk, push) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 2) {
          const len = pending.readUInt16BE(0);
          if (len === 0) throw new ProtocolError('zero-length frame');
          if (pending.length < 2 + len) break;
          push(pending.subarray(2, 2 + len).map((b) => b ^ 0x55));
          pending = pending.subarray(2 + len);
        }
      },
      flush() {
        if (pending.length > 0)
          throw new ProtocolError(`${pending.length} bytes of a frame left at end`);
      },
    },
  };
}

const framed = definePlugin({ name: 'framed', session: () => framing() });
const plain = definePlugin({ name: 'plain' });

describe('relay through a plugin pair', () => {
  for (const plugin of [plain, framed]) {
    describe(plugin.name, () => {
      it('keeps every byte in order under random chunking', async () => {
        const echo = later(await startEchoServer());
        const pair = later(await startPluginPair(plugin, { target: { port: echo.port } }));
        const data = seededBytes(2 * 1024 * 1024, 3);
        let seed = 9;
        const socket = await pair.connect();
        const got = collect(socket);
        await writeChunked(socket, data, () => {
          seed = (seed * 48271) % 2147483647;
          return 1 + (seed % 70_000);
        });
        expect((await got).equals(data)).toBe(true);
      });

      it('delivers the reply sent after the client FIN (half-close client→server)', async () => {
        const upstream = later(
          await startServer((s) => {
            const parts: Buffer[] = [];
            s.on('data', (c: Buffer) => parts.push(c));
            s.on('end', () =>
              setTimeout(() => s.end(`reply to ${Buffer.concat(parts).length} bytes`), 50),
            );
          }),
        );
        const pair = later(await startPluginPair(plugin, { target: { port: upstream.port } }));
        const socket = await pair.connect();
        const got = collect(socket);
        socket.end(seededBytes(100_000, 1));
        expect((await got).toString()).toBe('reply to 100000 bytes');
      });

      it('keeps the upload going after the server FIN (half-close server→client)', async () => {
        let upload: Promise<Buffer> | undefined;
        const upstream = later(
          await startServer((s) => {
            upload = collect(s);
            s.end('bye');
          }),
        );
        const pair = later(await startPluginPair(plugin, { target: { port: upstream.port } }));
        const socket = await pair.connect();
        socket.write('hi');
        expect((await collect(socket)).toString()).toBe('bye');
        const rest = seededBytes(300_000, 2);
        await writeChunked(socket, rest, [10_000]);
        expect(upload).toBeDefined();
        expect((await upload!).equals(Buffer.concat([Buffer.from('hi'), rest]))).toBe(true);
      });

      it('applies backpressure to a fast sender when the reader is slow', async () => {
        // Upstream reads nothing for a while: the sender must see write() return false instead of
        // the plugin buffering everything in memory.
        let upstreamSocket: Socket | undefined;
        const upstream = later(
          await startServer((s) => {
            upstreamSocket = s;
            s.pause();
          }),
        );
        const pair = later(await startPluginPair(plugin, { target: { port: upstream.port } }));
        const socket = await pair.connect();
        const chunk = Buffer.alloc(64 * 1024, 1);
        let written = 0;
        const deadline = Date.now() + 10_000;
        for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            const drained = await Promise.race([
              once(socket, 'drain').then(() => true),
              new Promise((r) => setTimeout(r, 300, false)),
            ]);
            if (!drained) break;
          }
        }
        // Loopback and socket buffers hold a few MiB; a relay without backpressure takes all 125 MiB.
        expect(written).toBeLessThan(64 * 1024 * 1024);
        expect(upstreamSocket).toBeDefined();
        const received = collect(upstreamSocket!);
        upstreamSocket!.resume();
        socket.end();
        expect((await received).length).toBe(written);
      });
    });
  }

  it('dials lazily: a connect-and-close probe never reaches upstream', async () => {
    const echo = later(await startEchoServer());
    for (const plugin of [plain, framed]) {
      const pair = later(await startPluginPair(plugin, { target: { port: echo.port } }));
      const probe = await pair.connect();
      probe.end();
      expect((await collect(probe)).length).toBe(0);
    }
    expect(echo.accepted).toBe(0);
  });

  it('resets a connection whose peer breaks the protocol, and only that one', async () => {
    const echo = later(await startEchoServer());
    const { lines, sink } = logCollector();
    const pair = later(
      await startPluginPair(framed, { target: { port: echo.port }, logSink: sink }),
    );
    const good = await pair.connect();
    const goodDone = collect(good);
    good.write('before');
    const bad = await openConnection(pair.server.addresses[0]!.port);
    const badError = once(bad, 'error').catch((e: unknown) => e);
    bad.write(Buffer.from([0, 0, 1, 2, 3]));
    const [error] = (await badError) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNRESET');
    good.end(' after');
    expect((await goodDone).toString()).toBe('before after');
    expect(lines.some((l) => l.includes('connection failed: zero-length frame'))).toBe(true);
    expect(pair.server.stats.failed).toBe(1);
  });

  it('closes a connection that stays idle both ways, not one with traffic in either direction', async () => {
    const echo = later(await startEchoServer());
    const pair = later(
      await startPluginPair(plain, {
        target: { port: echo.port },
        options: { 'idle-timeout': 0.4 },
      }),
    );
    const busy = await pair.connect();
    const busyDone = collect(busy);
    const idle = await pair.connect();
    const idleDone = collect(idle).catch((e: unknown) => e);
    idle.write('x');
    busy.write('x');
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      busy.write('y');
    }
    expect(await idleDone).toMatchObject({ code: 'ECONNRESET' });
    busy.end();
    expect((await busyDone).toString()).toBe('xyyyyyyyy');
  });

  it('routes through redirect(), answers early through respond(), and lets expire() rescue a stalled handshake', async () => {
    const echo = later(await startEchoServer());
    const failover = later(await startServer((s) => s.end('failover here')));
    const router = definePlugin({
      name: 'router',
      options: { failover: option.endpoint() },
      session(ctx) {
        const seen: Buffer[] = [];
        return {
          decode: {
            transform(chunk, push) {
              seen.push(chunk);
              const text = Buffer.concat(seen).toString();
              if (text.startsWith('HELLO\n')) {
                ctx.respond(Buffer.from('WELCOME\n'));
                push(Buffer.from(text.slice(6)));
                seen.length = 0;
                seen.push(Buffer.alloc(0));
              } else if (!'HELLO\n'.startsWith(text) && ctx.options.failover !== undefined) {
                ctx.redirect(ctx.options.failover);
                push(Buffer.concat(seen));
              }
            },
            expire(push) {
              if (ctx.options.failover === undefined) return;
              ctx.redirect(ctx.options.failover);
              push(Buffer.concat(seen));
            },
          },
        };
      },
    });
    const server = later(
      await runPlugin(router, {
        env: {
          SS_REMOTE_HOST: '127.0.0.1',
          SS_REMOTE_PORT: '1',
          SS_LOCAL_HOST: '127.0.0.1',
          SS_LOCAL_PORT: String(echo.port),
          SS_PLUGIN_OPTIONS: `server;handshake-timeout=0.3;failover=127.0.0.1:${failover.port}`,
        },
        listenPort: 0,
        logSink: () => undefined,
      }),
    );
    const port = server.addresses[0]!.port;
    const ok = await openConnection(port);
    const okDone = collect(ok);
    ok.write('HEL');
    await new Promise((r) => setTimeout(r, 30));
    ok.end('LO\nping');
    expect((await okDone).toString()).toBe('WELCOME\nping');

    const other = await openConnection(port);
    other.end('GET / HTTP/1.1\r\n\r\n');
    expect((await collect(other)).toString()).toBe('failover here');

    const stalled = await openConnection(port);
    stalled.write('HE');
    expect((await collect(stalled)).toString()).toBe('failover here');
  });

  it('accepts a Duplex as a codec (escape hatch)', async () => {
    const upper = (): Transform =>
      new Transform({
        transform: (c: Buffer, _e, cb) => cb(null, Buffer.from(c.toString().toUpperCase())),
      });
    const plugin = definePlugin({
      name: 'upper',
      session: (ctx) => (ctx.mode === 'client' ? { encode: upper() } : {}),
    });
    const echo = later(await startEchoServer());
    const pair = later(await startPluginPair(plugin, { target: { port: echo.port } }));
    const socket = await pair.connect();
    const got = collect(socket);
    socket.end('shout');
    expect((await got).toString()).toBe('SHOUT');
  });

  it('refuses connections over max-connections and counts them', async () => {
    const echo = later(await startEchoServer());
    const { lines, sink } = logCollector();
    const pair = later(
      await startPluginPair(plain, {
        target: { port: echo.port },
        clientOptions: { 'max-connections': 2 },
        logSink: sink,
      }),
    );
    const a = await pair.connect();
    const b = await pair.connect();
    a.write('a');
    b.write('b');
    // Over the limit: reset at once (the reset may even beat the client's 'connect' event).
    const c = connect({ port: pair.port, host: '127.0.0.1' });
    const cError = once(c, 'error').catch((e: unknown) => e);
    expect(await cError).toMatchObject([{ code: 'ECONNRESET' }]);
    expect(pair.client.stats.dropped).toBe(1);
    expect(lines).toContain(
      'framed warn max-connections (2) reached; connection refused'.replace('framed', 'plain'),
    );
    a.end();
    b.end();
    await Promise.all([collect(a), collect(b)]);
  });

  it('drains open connections on close() up to the drain deadline', async () => {
    const echo = later(await startEchoServer());
    const pair = await startPluginPair(plain, { target: { port: echo.port } });
    const socket = await pair.connect();
    const got = collect(socket).catch((e: unknown) => e);
    socket.write('still here');
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const closing = pair.client.close(300);
    await expect(openConnection(pair.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await closing;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(await got).toBeInstanceOf(Error);
    await pair.close();
  });
});

describe('asynchronous codecs', () => {
  it('keep order, backpressure and half-close when transform and flush return promises', async () => {
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    // Alternate one and two ticks: if the relay did not hold the source while a promise is
    // pending, a later chunk would overtake an earlier one.
    let calls = 0;
    const asyncXor: Codec = {
      async transform(chunk, push) {
        await tick();
        if (calls++ % 2 === 0) await tick();
        push(chunk.map((b) => b ^ 0x2a));
      },
    };
    let flushed = 0;
    const plugin = definePlugin({
      name: 'async-xor',
      session: () => ({
        encode: {
          ...asyncXor,
          async flush() {
            await tick();
            flushed++;
          },
        },
        decode: asyncXor,
      }),
    });
    const report = await checkCodecRoundTrip(plugin, { largeBytes: 4 * 1024 * 1024 });
    expect(report.steps).toHaveLength(10);
    expect(flushed).toBeGreaterThan(0);
  }, 120_000);
});

describe('a session factory that throws', () => {
  it('resets that connection, logs one line and keeps serving', async () => {
    const echo = later(await startEchoServer());
    const { lines, sink } = logCollector();
    let calls = 0;
    const flaky = definePlugin({
      name: 'flaky',
      session: () => {
        if (calls++ === 0) throw new Error('no state for you');
        return {};
      },
    });
    const pair = later(
      await startPluginPair(flaky, { target: { port: echo.port }, logSink: sink }),
    );
    const first = connect({ port: pair.port, host: '127.0.0.1' });
    expect(await once(first, 'error').catch((e: unknown) => e)).toMatchObject([
      { code: 'ECONNRESET' },
    ]);
    // Not a PluginError: a bug, with the stack that names where it was thrown.
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^flaky error session failed to start on a bug in the plugin, connection reset: Error: no state for you conn=1 stack="at [^"]*relay\.test\.ts:\d+/,
      ),
    );
    expect(pair.client.stats.failed).toBe(1);
    const second = await pair.connect();
    const got = collect(second);
    second.end('still serving');
    expect((await got).toString()).toBe('still serving');
  });
});

describe('resetSocket', () => {
  it('resets a socket whose FIN is in flight once the FIN is out: the peer sees a reset, the handle closes', async () => {
    const server = createServer({ allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const accepted = once(server, 'connection') as Promise<[Socket]>;
      const ours = connect((server.address() as AddressInfo).port, '127.0.0.1');
      await once(ours, 'connect');
      const [peer] = await accepted;
      peer.on('error', () => undefined);
      ours.on('error', () => undefined);
      const peerEnded = once(peer, 'end');
      peer.resume();
      ours.end();
      // The instant the relay meets when a reset arrives as its own FIN goes out: libuv refuses
      // an RST now (EINVAL) and would leave the handle open.
      expect([ours.writableEnded, ours.writableFinished, ours.writableLength]).toEqual([
        true,
        false,
        0,
      ]);
      resetSocket(ours);
      await once(ours, 'close');
      await peerEnded;
      expect(endedByReset(peer)).toBe(true);
      peer.destroy();
    } finally {
      server.close();
    }
  });
});
