import type { Codec, Endpoint, Push, Session, SessionContext } from '@sip003/sdk';
import { ErrorCode, isPluginError } from '@sip003/sdk';
import { MAX_FIRST_PACKET, reject, type Verdict } from './constants.ts';
import { httpClientWire } from './http/client.ts';
import { requestPrefix } from './http/request.ts';
import { httpServerWire } from './http/server.ts';
import { buildClientHello, tlsClientWire } from './tls/client.ts';
import { tlsServerWire } from './tls/server.ts';

/** What a connection's codecs need from the plugin options. */
export interface ObfsSessionOptions {
  readonly obfs: 'http' | 'tls';
  /** Client: Host header (plus `:port`) in HTTP mode, SNI in TLS mode. */
  readonly obfsHost: string;
  /** Client, HTTP: the request target. */
  readonly obfsUri: string;
  /** Client, HTTP: the request method. */
  readonly httpMethod: string;
  /** Server, HTTP: when set, the Host header must match it (§2.3 step 4). */
  readonly serverObfsHost: string | undefined;
  /** Server: where rejected connections go; undefined = the normal upstream (§5). */
  readonly failover: Endpoint | undefined;
  /** Server, HTTP: send an empty 101 as soon as the request is accepted (§2.2). */
  readonly reverseProxy: boolean;
}

/**
 * Creates the codec pair of one connection: on the client, `encode` wraps the app's bytes into
 * the HTTP request / ClientHello and `decode` unwraps the server's reply; on the server, `decode`
 * decides whether the peer is obfs-local and unwraps, `encode` wraps upstream's answer.
 */
export function createObfsSession(
  ctx: SessionContext<unknown>,
  options: ObfsSessionOptions,
): Session {
  return ctx.mode === 'client' ? clientSession(ctx, options) : serverSession(ctx, options);
}

/**
 * Throws a RangeError naming the bad value if `options` cannot produce a valid first packet:
 * call it at startup so a bad obfs-host, method or URI is a configuration error, not a failure
 * of every connection.
 */
export function assertObfsSessionOptions(options: ObfsSessionOptions): void {
  const { obfsHost: host, httpMethod: method, obfsUri: uri } = options;
  if (options.obfs === 'http') requestPrefix({ host, port: 65535, method, uri });
  else buildClientHello(Buffer.from(host, 'utf8'), Buffer.alloc(1));
}

function clientSession(ctx: SessionContext<unknown>, options: ObfsSessionOptions): Session {
  const wire =
    options.obfs === 'http'
      ? httpClientWire(() => ({
          host: options.obfsHost,
          port: ctx.target.port,
          method: options.httpMethod,
          uri: options.obfsUri,
        }))
      : tlsClientWire(options.obfsHost);
  let started = false;
  const encode: Codec = {
    transform(chunk, push) {
      if (chunk.length === 0) return;
      if (started) {
        wire.later(chunk, push);
        return;
      }
      started = true;
      // §12 client 2-3: header or hello plus the first payload in one write of at most 16384
      // bytes; what does not fit follows as ordinary data.
      const { packet, consumed } = wire.first(chunk);
      push(packet);
      if (consumed < chunk.length) wire.later(chunk.subarray(consumed), push);
    },
  };
  return { encode, decode: wire.decode };
}

/** Upstream bytes we are willing to hold before the verdict (see `held` below). */
const HOLD_LIMIT = 4 * MAX_FIRST_PACKET;

function serverSession(ctx: SessionContext<unknown>, options: ObfsSessionOptions): Session {
  const wire =
    options.obfs === 'http'
      ? httpServerWire(options.serverObfsHost, options.reverseProxy)
      : tlsServerWire();
  const first = new FirstPacketBuffer();
  let phase: 'detecting' | 'accepted' | 'rejected' = 'detecting';
  let answered = false;
  // The server must not answer before it has judged the request. Upstream cannot speak that
  // early (the SDK dials on our first push), but if it ever did, its bytes wait here.
  let held: Buffer[] = [];
  let heldBytes = 0;

  const encodeOut = (chunk: Buffer, push: Push): void => {
    if (phase === 'rejected') push(chunk);
    else if (answered) wire.encode(chunk, push);
    else {
      answered = true;
      const { packet, consumed } = wire.answer(chunk);
      push(packet);
      if (consumed < chunk.length) wire.encode(chunk.subarray(consumed), push);
    }
  };
  const release = (): void => {
    const pending = held;
    held = [];
    heldBytes = 0;
    for (const chunk of pending) encodeOut(chunk, (data) => ctx.respond(data));
  };

  // §5, §10 row 7: a rejected connection gets every byte received so far, unchanged, then a
  // raw relay both ways, to the failover when configured, else to upstream (§10 row 17).
  const rejectWith = (reason: string, push: Push): void => {
    phase = 'rejected';
    const to = options.failover === undefined ? 'upstream' : 'failover';
    ctx.log.debug('not obfuscated, relaying raw', { reason, to });
    if (options.failover !== undefined) ctx.redirect(options.failover);
    for (const chunk of first.take()) push(chunk);
    release();
  };

  const accept = (verdict: Extract<Verdict, { kind: 'accept' }>, push: Push): void => {
    // Decode the rest of the first packet before committing: 0.0.5 treats a framing error there
    // as a rejection (§3.4 step 7), and so do we, but forwarding the original bytes.
    const head = first.head;
    const decoded: Uint8Array[] = [];
    try {
      for (const piece of first.from(verdict.restStart)) {
        wire.decode(piece, (data) => decoded.push(data));
      }
    } catch (error) {
      if (!isPluginError(error) || error.code !== ErrorCode.PROTOCOL) throw error;
      rejectWith(`first packet: ${error.message}`, push);
      return;
    }
    phase = 'accepted';
    ctx.log.debug('obfuscated handshake accepted');
    push(head.subarray(verdict.payloadStart, verdict.payloadEnd));
    for (const data of decoded) push(data);
    first.take();
    if (wire.early !== undefined) {
      answered = true;
      ctx.respond(wire.early());
    }
    release();
  };

  const judge = (head: Buffer): Verdict => {
    const verdict = wire.detector.inspect(head);
    // §10 row 4 fix: a first packet too big for 0.0.5's buffer is relayed, not dropped.
    if (verdict.kind === 'wait' && head.length >= MAX_FIRST_PACKET) {
      return reject(`no verdict within ${MAX_FIRST_PACKET} bytes`);
    }
    return verdict;
  };

  const decode: Codec = {
    transform(chunk, push) {
      if (phase === 'accepted') wire.decode(chunk, push);
      else if (phase === 'rejected') push(chunk);
      else {
        const verdict = judge(first.add(chunk));
        if (verdict.kind === 'accept') accept(verdict, push);
        else if (verdict.kind === 'reject') rejectWith(verdict.reason, push);
      }
    },
    // §2.3: 0.0.5 drops a peer that closes before a verdict; we relay what it sent instead.
    flush(push) {
      if (phase === 'detecting' && first.size > 0) rejectWith('closed before a verdict', push);
      else if (phase === 'accepted') wire.end();
    },
    // The SDK's handshake deadline passed: a stalled first packet is relayed like a rejected one.
    expire(push) {
      if (phase === 'detecting' && first.size > 0) {
        rejectWith('no verdict before the handshake deadline', push);
      }
    },
  };

  const encode: Codec = {
    transform(chunk, push) {
      if (chunk.length === 0) return;
      if (phase !== 'detecting') {
        encodeOut(chunk, push);
        return;
      }
      heldBytes += chunk.length;
      if (heldBytes > HOLD_LIMIT) {
        throw new Error(`upstream sent ${heldBytes} bytes before the handshake verdict`);
      }
      held.push(chunk);
    },
  };
  return { encode, decode };
}

const EMPTY = Buffer.alloc(0);

/**
 * The bytes received before the verdict, held once and bounded whatever the split: the first
 * chunk as received (forwarded unchanged on rejection, and `head` is a view of it while nothing
 * else came), then, from the second chunk on, one copy of the first MAX_FIRST_PACKET bytes for
 * the detector, plus the part of the last chunk past them. The detector judges by then, so
 * nothing more is added (a first packet as 16,000 one-byte reads costs 16 KiB, not a chunk
 * each).
 */
class FirstPacketBuffer {
  #first: Buffer = EMPTY;
  /** The first MAX_FIRST_PACKET bytes in one piece, once a second chunk came. */
  #store: Buffer | undefined;
  /** Bytes past the first MAX_FIRST_PACKET that are not in the first chunk. */
  #overflow: Buffer = EMPTY;
  size = 0;
  head: Buffer = EMPTY;

  add(chunk: Buffer): Buffer {
    if (chunk.length === 0) return this.head;
    this.size += chunk.length;
    if (this.#first.length === 0) {
      this.#first = chunk;
      this.head = chunk.subarray(0, MAX_FIRST_PACKET);
      return this.head;
    }
    const room = MAX_FIRST_PACKET - this.head.length;
    let copied = 0;
    if (room > 0) {
      if (this.#store === undefined) {
        this.#store = Buffer.allocUnsafe(MAX_FIRST_PACKET);
        this.head.copy(this.#store);
      }
      copied = chunk.copy(this.#store, this.head.length, 0, room);
      this.head = this.#store.subarray(0, this.head.length + copied);
    }
    // Only once `head` is full, when the detector has its verdict: at most one chunk lands here.
    if (copied < chunk.length) {
      const rest = chunk.subarray(copied);
      this.#overflow = this.#overflow.length === 0 ? rest : Buffer.concat([this.#overflow, rest]);
    }
    return this.head;
  }

  /** The received bytes in order, in at most three pieces. */
  #pieces(): Buffer[] {
    const pieces = [this.#first];
    if (this.#store !== undefined) pieces.push(this.head.subarray(this.#first.length));
    pieces.push(this.#overflow);
    return pieces.filter((piece) => piece.length > 0);
  }

  /** Views of the received bytes from stream offset `start` on. */
  from(start: number): Buffer[] {
    const out: Buffer[] = [];
    let skip = start;
    for (const piece of this.#pieces()) {
      if (skip >= piece.length) skip -= piece.length;
      else {
        out.push(skip === 0 ? piece : piece.subarray(skip));
        skip = 0;
      }
    }
    return out;
  }

  /** Returns the received bytes (the first chunk as it came) and forgets everything. */
  take(): Buffer[] {
    const pieces = this.#pieces();
    this.#first = EMPTY;
    this.#store = undefined;
    this.#overflow = EMPTY;
    this.head = EMPTY;
    this.size = 0;
    return pieces;
  }
}
