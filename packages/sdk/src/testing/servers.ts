import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

/** A loopback server started by the test kit. */
export interface TestServer {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes each accepted connection received, in accept order (sink and echo servers). */
  readonly received: Buffer[][];
  close(): Promise<void>;
}

async function start(server: Server, host: string): Promise<{ port: number }> {
  server.listen(0, host);
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port };
}

function track(handler: (socket: Socket, index: number) => void, host: string) {
  const sockets = new Set<Socket>();
  const received: Buffer[][] = [];
  let accepted = 0;
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    received.push([]);
    handler(socket, accepted++);
  });
  return {
    server,
    received,
    async finish(): Promise<TestServer> {
      const { port } = await start(server, host);
      return {
        host,
        port,
        get accepted() {
          return accepted;
        },
        received,
        async close() {
          for (const s of sockets) s.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
  };
}

/** Echoes every byte back and half-closes after the peer does (exact half-close). */
export async function startEchoServer(host = '127.0.0.1'): Promise<TestServer> {
  const t = track((socket, index) => {
    socket.on('data', (chunk: Buffer) => {
      if (t.received[index]!.length < 64) t.received[index]!.push(chunk);
    });
    socket.pipe(socket);
  }, host);
  return t.finish();
}

/**
 * Answers each connection with `reply(received)` only after the peer's FIN, then closes: the
 * half-close scenario that simple-obfs breaks (the reply travels after the request direction ended).
 */
export async function startReplyAfterFinServer(
  reply: (request: Buffer) => Buffer,
  host = '127.0.0.1',
): Promise<TestServer> {
  const t = track((socket, index) => {
    socket.on('data', (chunk: Buffer) => t.received[index]!.push(chunk));
    socket.on('end', () => {
      socket.end(reply(Buffer.concat(t.received[index]!)));
    });
  }, host);
  return t.finish();
}

/** Reads a socket to its end. Rejects on error or after `timeoutMs`. */
export function collect(socket: Socket, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`collect: no end of data within ${timeoutMs} ms (${chunks.length} chunks read)`),
      );
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // Destroyed without an end (and without an error): say so now, not at the timeout.
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`collect: the socket closed before its end (${chunks.length} chunks read)`));
    });
  });
}

/** Opens a TCP connection with allowHalfOpen, resolved once connected. */
export async function openConnection(port: number, host = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

/** sha256 hex of a buffer. */
export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32) so failures reproduce from the seed. */
export function seededBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Resolves on 'drain'; rejects at once when the socket errors or closes instead (no hang). */
function drained(socket: Socket, written: number, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      socket.off('drain', onDrain);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = (): void => done();
    const onError = (e: Error): void => done(e);
    const onClose = (): void =>
      done(new Error(`writeChunked: the socket closed after ${written} of ${total} bytes`));
    socket.on('drain', onDrain);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/** Writes `data` in chunks of the given sizes (cycled), respecting backpressure, then FIN. */
export async function writeChunked(
  socket: Socket,
  data: Buffer,
  sizes: readonly number[] | ((i: number) => number),
  end = true,
): Promise<void> {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const size = typeof sizes === 'function' ? sizes(i) : (sizes[i % sizes.length] ?? 1);
    const chunk = data.subarray(offset, offset + Math.max(1, size));
    offset += chunk.length;
    i++;
    if (!socket.write(chunk)) await drained(socket, offset, data.length);
    // Let small writes become separate TCP segments sometimes, so peers see real splits.
    if (size < 64 && i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  if (end) socket.end();
}

/**
 * Upload sink: each connection starts with an 8-byte big-endian length; once that many bytes have
 * arrived it answers the sha256 hex and byte count, and closes. It needs no FIN from the client,
 * because shadowsocks-libev turns a half-close into a full close.
 */
export async function startHashServer(host = '127.0.0.1'): Promise<TestServer> {
  const t = track((socket) => {
    const hash = createHash('sha256');
    let expected = -1;
    let header = Buffer.alloc(0);
    let bytes = 0;
    const answer = (): void => {
      socket.end(`${hash.digest('hex')} ${bytes}\n`);
    };
    socket.on('data', (chunk: Buffer) => {
      if (expected < 0) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 8) return;
        expected = Number(header.readBigUInt64BE(0));
        chunk = header.subarray(8);
      }
      if (bytes >= expected) return;
      const take = chunk.subarray(0, expected - bytes);
      bytes += take.length;
      hash.update(take);
      if (bytes === expected) answer();
    });
    socket.on('end', () => {
      if (bytes < expected || expected < 0) answer();
    });
  }, host);
  return t.finish();
}

/** Download source: sends `seededBytes(bytes, seed)` to every connection, then FIN. */
export async function startSourceServer(
  bytes: number,
  seed = 1,
  host = '127.0.0.1',
): Promise<TestServer> {
  const data = seededBytes(bytes, seed);
  const t = track((socket) => {
    socket.end(data);
  }, host);
  return t.finish();
}

/** Reads a socket to its end, hashing as it goes; resolves sha256 hex and byte count. */
export function hashStream(
  socket: Socket,
  timeoutMs = 120_000,
): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`hashStream: no end of data within ${timeoutMs} ms (${bytes} bytes read)`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    socket.once('end', () => {
      clearTimeout(timer);
      resolve({ sha256: hash.digest('hex'), bytes });
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`hashStream: the socket closed before its end (${bytes} bytes read)`));
    });
  });
}

/**
 * Reads until at least `n` bytes arrived, the peer ended or closed, or `timeoutMs` passed;
 * resolves with what arrived. For checks through hosts without half-close (ss-libev, simple-obfs),
 * where the reply must be read before sending a FIN.
 */
export function readAtLeast(socket: Socket, n: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', done);
      socket.off('close', done);
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= n) done();
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', onData);
    socket.once('end', done);
    socket.once('close', done);
    socket.on('error', () => undefined);
  });
}

/**
 * Whether a socket whose read side just ended (its 'end' event) was reset rather than closed.
 * Node reports an RST that comes with the last data as a plain end (libuv's POLLHUP short cut),
 * so a test that tells resets from ends must ask the kernel: while our side is open,
 * getpeername fails (ENOTCONN) after an RST and works after a FIN; once our own FIN is out it
 * fails either way, and one more read(2) tells them apart (0 after a FIN, the pending
 * ECONNRESET after an RST).
 */
export function endedByReset(socket: Socket): boolean {
  const handle = (
    socket as unknown as { _handle?: { fd: number; getpeername(out: object): number } | null }
  )._handle;
  if (handle === undefined || handle === null) return false; // already closed: trust the end
  if (!socket.writableEnded) return handle.getpeername({}) !== 0;
  try {
    return readSync(handle.fd, Buffer.alloc(1)) !== 0;
  } catch {
    return true;
  }
}
