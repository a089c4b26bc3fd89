// One connection driven straight through relay() on real loopback sockets, so a test can see the
// dialed socket: how many writes the relay queues on it, which deadline closes it, what is
// released at teardown, how a failed dial is reported.
import { connect, createServer, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { createGzip } from 'node:zlib';
import { describe, it, expect, afterEach } from 'vitest';
import {
  connectTo as dialEndpoint,
  relay,
  type RelayConfig,
  type RelayOutcome,
  type RelayStreams,
} from '../src/relay.ts';
import type { Codec } from '../src/codec.ts';
import type { Endpoint } from '../src/address.ts';
import { ErrorCode, PluginError } from '../src/errors.ts';
import { collect, seededBytes } from '../src/testing/index.ts';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A loopback server whose handler gets each socket; its sockets are destroyed at cleanup. */
async function listenLocal(handler: (socket: Socket) => void = () => undefined): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    handler(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

interface Relayed {
  /** The relay's listening port: connect here as the accepted side. */
  port: number;
  /** The relay's side of the next accepted connection. */
  accepted: Promise<Socket>;
  /** The socket the relay dialed, once it did. */
  dialed: Promise<Socket>;
  /** How the connection ended (onClose). */
  outcome: Promise<RelayOutcome>;
}

/** The relay settings a test overrides; its `connect` opens the socket at once. */
type RelayOneConfig = Partial<Omit<RelayConfig, 'connect'>> & {
  connect?: (to: Endpoint) => Socket;
};

/** Relays the first connection to `target` through `streams`; `connect` defaults to the SDK's. */
async function relayOne(
  target: Endpoint,
  streams: RelayStreams,
  config: RelayOneConfig = {},
): Promise<Relayed> {
  let gotAccepted!: (socket: Socket) => void;
  let gotDialed!: (socket: Socket) => void;
  let gotOutcome!: (outcome: RelayOutcome) => void;
  const accepted = new Promise<Socket>((resolve) => (gotAccepted = resolve));
  const dialed = new Promise<Socket>((resolve) => (gotDialed = resolve));
  const outcome = new Promise<RelayOutcome>((resolve) => (gotOutcome = resolve));
  const open = config.connect ?? dialEndpoint;
  const port = await listenLocal((socket) => {
    gotAccepted(socket);
    relay(
      socket,
      streams,
      { target },
      {
        connectTimeout: 0,
        handshakeTimeout: 0,
        idleTimeout: 0,
        ...config,
        connect(to) {
          const socket = open(to);
          gotDialed(socket);
          return socket;
        },
        onClose: (result) => gotOutcome(result),
      },
    );
  });
  return { port, accepted, dialed, outcome };
}

/** An upstream server: its port, and its side of the first connection. */
async function startUpstream(
  onSocket: (socket: Socket) => void = () => undefined,
): Promise<{ port: number; socket: Promise<Socket> }> {
  let got!: (socket: Socket) => void;
  const socket = new Promise<Socket>((resolve) => (got = resolve));
  const port = await listenLocal((s) => {
    onSocket(s);
    got(s);
  });
  return { port, socket };
}

/** Rejects after `ms` (a generous bound on a wait, not a sleep used to synchronise). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]);
}

/** The client side: dialed with the relay's own `connectTo`, resolved once connected. */
async function openClient(port: number): Promise<Socket> {
  const socket = dialEndpoint({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Counts the writes a socket is asked for. */
function countWrites(socket: Socket): { count: number } {
  const counter = { count: 0 };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = (...args: unknown[]) => {
    counter.count++;
    return write(...args);
  };
  return counter;
}

/** A free loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('memory per connection is bounded whatever the peer sends', () => {
  it('writes the small pushes of one transform call as one write (tiny TLS records)', async () => {
    // Like a TLS decoder fed records of 1 byte: one push per byte of input.
    let calls = 0;
    const perByte: Codec = {
      transform(chunk, push) {
        calls++;
        for (let i = 0; i < chunk.length; i++) push(chunk.subarray(i, i + 1));
      },
    };
    const upstream = await startUpstream((socket) => socket.end());
    const relayed = await relayOne(
      { host: '127.0.0.1', port: upstream.port },
      { inbound: perByte, outbound: undefined },
    );
    const client = await openClient(relayed.port);
    const data = seededBytes(300_000, 5);
    client.end(data);
    const writes = countWrites(await relayed.dialed);
    const received = collect(await upstream.socket);
    expect((await received).equals(data)).toBe(true);
    expect((await within(relayed.outcome, 20_000, 'relay closed')).error).toBeUndefined();
    // The first push is written before the counter is in place; every later call is one write.
    expect(writes.count).toBeLessThanOrEqual(calls);
  });

  it('lets the event loop turn after a read that made many pushes (one peer cannot hold it)', async () => {
    // libuv reads a busy socket up to 32 times per poll: without a yield, the transforms of
    // consecutive reads run back to back while every other connection waits.
    let calls = 0;
    let backToBack = 0;
    let turned = true;
    const perByte: Codec = {
      transform(chunk, push) {
        calls++;
        if (!turned) backToBack++;
        turned = false;
        setImmediate(() => (turned = true));
        for (let i = 0; i < chunk.length; i++) push(chunk.subarray(i, i + 1));
      },
    };
    const upstream = await startUpstream((socket) => {
      socket.resume();
      socket.on('end', () => socket.end());
    });
    const relayed = await relayOne(
      { host: '127.0.0.1', port: upstream.port },
      { inbound: perByte, outbound: undefined },
    );
    const client = await openClient(relayed.port);
    client.resume();
    client.end(seededBytes(4 * 1024 * 1024, 9));
    expect((await within(relayed.outcome, 30_000, 'relay closed')).error).toBeUndefined();
    expect(calls).toBeGreaterThan(4);
    expect(backToBack).toBe(0);
  });

  it('pauses a source once 64 writes are queued, however small (tiny reads, sink not ready)', async () => {
    // The dial waits on a name lookup we hold, so every write queues inside the relay.
    let releaseLookup: (() => void) | undefined;
    const upstream = await startUpstream((socket) => socket.end());
    const relayed = await relayOne(
      { host: 'upstream.test', port: upstream.port },
      { inbound: undefined, outbound: undefined },
      {
        connect: (to) =>
          connect({
            host: to.host,
            port: to.port,
            allowHalfOpen: true,
            autoSelectFamily: false,
            lookup: (_host, _options, callback) => {
              releaseLookup = () =>
                (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
            },
          }),
      },
    );
    const client = await openClient(relayed.port);
    client.on('error', () => undefined);
    client.write('a');
    const writes = countWrites(await relayed.dialed);
    const accepted = await relayed.accepted;
    const sent = Buffer.alloc(400, 'b');
    sent[0] = 0x61; // the 'a' above
    // 399 one-byte segments, each given time to be read on its own.
    for (let i = 1; i < sent.length; i++) {
      client.write(sent.subarray(i, i + 1));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(accepted.bytesRead).toBeGreaterThan(1);
    expect(writes.count).toBeLessThanOrEqual(64);
    expect(accepted.isPaused()).toBe(true);
    releaseLookup!();
    client.end();
    const received = collect(await within(upstream.socket, 20_000, 'upstream connection'));
    expect((await received).equals(sent)).toBe(true);
  });
});

/** Resolves with the next 'data' chunk, or undefined when none comes within `ms`. */
function nextData(socket: Socket, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('data', onData);
      resolve(undefined);
    }, ms);
    const onData = (chunk: Buffer): void => {
      clearTimeout(timer);
      resolve(chunk);
    };
    socket.once('data', onData);
  });
}

/** Resolves once a stream has closed (its resources, zlib's native handle here, released). */
async function closed(stream: Duplex): Promise<void> {
  if (!stream.closed) await once(stream, 'close');
}

function expectCode(error: Error | undefined, code: string): PluginError {
  expect(error).toBeInstanceOf(PluginError);
  expect((error as PluginError).code).toBe(code);
  return error as PluginError;
}

describe('every state has a deadline', () => {
  it('closes a connection whose upstream sent its FIN and stopped reading, after the client closed', async () => {
    // Issue 9 item 4: the accepted socket closes cleanly; the dialed one holds a write its peer
    // never reads, so it never closes by itself (CLOSE-WAIT with MBs queued, held forever).
    const upstream = await startUpstream((socket) => socket.end());
    const relayed = await relayOne(
      { host: '127.0.0.1', port: upstream.port },
      { inbound: undefined, outbound: undefined },
      { idleTimeout: 400 },
    );
    const client = await openClient(relayed.port);
    client.on('error', () => undefined);
    const clientEnded = once(client, 'end');
    client.resume();
    client.write('x');
    await within(clientEnded, 10_000, "upstream's FIN at the client");
    const accepted = await relayed.accepted;
    const dialed = await relayed.dialed;
    // Upload until one write waits on the dialed socket below its high-water mark: the relay
    // still reads, so it will read the client's FIN next.
    const chunk = Buffer.alloc(8192, 7);
    let pending = false;
    for (let i = 0; i < 4000 && !pending; i++) {
      const read = nextData(accepted, 2000);
      client.write(chunk);
      if ((await read) === undefined) break;
      pending = dialed.writableLength > 0 && dialed.writableLength < dialed.writableHighWaterMark;
    }
    expect(pending).toBe(true);
    client.end();
    const outcome = await within(relayed.outcome, 10_000, 'relay closed');
    expectCode(outcome.error, ErrorCode.TIMEOUT);
    expect(dialed.destroyed).toBe(true);
  });
});

describe('teardown releases both codecs', () => {
  it('destroys an inbound and an outbound Duplex codec when the client resets', async () => {
    const upstream = await startUpstream((socket) => socket.write('hello'));
    const inbound = createGzip();
    const outbound = createGzip();
    const relayed = await relayOne(
      { host: '127.0.0.1', port: upstream.port },
      { inbound, outbound },
    );
    const client = await openClient(relayed.port);
    client.on('error', () => undefined);
    client.write('x');
    await within(upstream.socket, 10_000, 'upstream connection');
    client.resetAndDestroy();
    const outcome = await within(relayed.outcome, 10_000, 'relay closed');
    expect(outcome.error).toBeDefined();
    expect(inbound.destroyed).toBe(true);
    expect(outbound.destroyed).toBe(true);
    await within(closed(outbound), 10_000, 'outbound codec closed');
  });

  it('destroys an outbound Duplex codec at the idle timeout', async () => {
    const upstream = await startUpstream((socket) => socket.write('hello'));
    const outbound = createGzip();
    const relayed = await relayOne(
      { host: '127.0.0.1', port: upstream.port },
      { inbound: undefined, outbound },
      { idleTimeout: 300 },
    );
    const client = await openClient(relayed.port);
    client.on('error', () => undefined);
    client.write('x');
    const outcome = await within(relayed.outcome, 10_000, 'relay closed');
    expectCode(outcome.error, ErrorCode.TIMEOUT);
    expect(outbound.destroyed).toBe(true);
    await within(closed(outbound), 10_000, 'outbound codec closed');
  });
});

describe('a failed dial is SIP003_DIAL_FAILED with the errno error as cause', () => {
  /** Relays one client byte to `target` through `connect`; returns the outcome's error. */
  async function dialError(target: Endpoint, config: RelayOneConfig = {}): Promise<Error> {
    const relayed = await relayOne(target, { inbound: undefined, outbound: undefined }, config);
    const client = await openClient(relayed.port);
    client.on('error', () => undefined);
    client.write('x');
    return (await within(relayed.outcome, 10_000, 'relay closed')).error!;
  }

  it('refused', async () => {
    const port = await closedPort();
    const error = expectCode(await dialError({ host: '127.0.0.1', port }), ErrorCode.DIAL_FAILED);
    expect(error.cause).toMatchObject({ code: 'ECONNREFUSED' });
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it('name not found', async () => {
    const error = expectCode(
      await dialError(
        { host: 'upstream.test', port: 80 },
        {
          connect: (to) =>
            connect({
              host: to.host,
              port: to.port,
              autoSelectFamily: false,
              lookup: (host, _options, callback) =>
                (callback as (e: Error) => void)(
                  Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }),
                ),
            }),
        },
      ),
      ErrorCode.DIAL_FAILED,
    );
    expect(error.cause).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('timed out', async () => {
    const error = expectCode(
      await dialError(
        { host: 'upstream.test', port: 80 },
        {
          connectTimeout: 200,
          // A lookup that never answers keeps the socket connecting.
          connect: (to) =>
            connect({
              host: to.host,
              port: to.port,
              autoSelectFamily: false,
              lookup: () => undefined,
            }),
        },
      ),
      ErrorCode.DIAL_FAILED,
    );
    expect(error.cause).toMatchObject({ code: 'ETIMEDOUT' });
    expect(error.message).toContain('0.2 s');
  });

  it('thrown by connect', async () => {
    const error = expectCode(
      await dialError(
        { host: '127.0.0.1', port: 80 },
        {
          connect: () => {
            throw Object.assign(new Error('no route'), { code: 'EHOSTUNREACH' });
          },
        },
      ),
      ErrorCode.DIAL_FAILED,
    );
    expect(error.cause).toMatchObject({ code: 'EHOSTUNREACH' });
  });
});
