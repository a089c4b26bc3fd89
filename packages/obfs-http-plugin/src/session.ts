import type { Codec, Endpoint, Push, Session, SessionContext } from '@sip003/sdk';
import { ErrorCode, isPluginError } from '@sip003/sdk';
import { ByteReader } from '@sip003/sdk/codecs';
import { MAX_FIRST_PACKET, type Verdict } from './constants.ts';
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

const EMPTY = Buffer.alloc(0);

function serverSession(ctx: SessionContext<unknown>, options: ObfsSessionOptions): Session {
  const wire =
    options.obfs === 'http'
      ? httpServerWire(options.serverObfsHost, options.reverseProxy)
      : tlsServerWire();
  // The bytes received before the verdict: at most MAX_FIRST_PACKET, since the detector judges
  // by then; a chunk that goes past it is cut, its rest handled after the verdict. A first
  // packet in one read stays that read (forwarded unchanged, no copy); one in many reads is held
  // once, in one piece, whatever the split (issue 9: 16,000 one-byte reads cost 16 KiB).
  const first = new ByteReader({ maxBytes: MAX_FIRST_PACKET, what: 'first packet' });
  let phase: 'detecting' | 'accepted' | 'rejected' = 'detecting';
  let answered = false;
  // The server must not answer before it has judged the request. Upstream cannot speak that
  // early (the SDK dials on our first push), but if it ever did, its bytes wait here.
  let held: ByteReader | undefined;

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
    if (held === undefined) return;
    const pending = held.readAll();
    held = undefined;
    encodeOut(pending, (data) => ctx.respond(data));
  };

  // §5, §10 row 7: a rejected connection gets every byte received so far, unchanged, then a
  // raw relay both ways, to the failover when configured, else to upstream (§10 row 17).
  // `rest`: the part of the last chunk past the first MAX_FIRST_PACKET bytes.
  const rejectWith = (reason: string, push: Push, rest: Buffer = EMPTY): void => {
    phase = 'rejected';
    const to = options.failover === undefined ? 'upstream' : 'failover';
    ctx.log.debug('not obfuscated, relaying raw', { reason, to });
    if (options.failover !== undefined) ctx.redirect(options.failover);
    if (first.length > 0) push(first.readAll());
    if (rest.length > 0) push(rest);
    release();
  };

  const accept = (
    verdict: Extract<Verdict, { kind: 'accept' }>,
    head: Buffer,
    rest: Buffer,
    push: Push,
  ): void => {
    // Decode the rest of the first packet before committing: 0.0.5 treats a framing error there
    // as a rejection (§3.4 step 7), and so do we, but forwarding the original bytes.
    const decoded: Uint8Array[] = [];
    const keep: Push = (data) => decoded.push(data);
    try {
      if (verdict.restStart < head.length) wire.decode(head.subarray(verdict.restStart), keep);
      if (rest.length > 0) wire.decode(rest, keep);
    } catch (error) {
      if (!isPluginError(error) || error.code !== ErrorCode.PROTOCOL) throw error;
      rejectWith(`first packet: ${error.message}`, push, rest);
      return;
    }
    phase = 'accepted';
    ctx.log.debug('obfuscated handshake accepted');
    push(head.subarray(verdict.payloadStart, verdict.payloadEnd));
    for (const data of decoded) push(data);
    first.skip(first.length);
    if (wire.early !== undefined) {
      answered = true;
      ctx.respond(wire.early());
    }
    release();
  };

  const detect = (chunk: Buffer, push: Push): void => {
    const room = MAX_FIRST_PACKET - first.length;
    first.append(chunk.length <= room ? chunk : chunk.subarray(0, room));
    const rest = chunk.length <= room ? EMPTY : chunk.subarray(room);
    const head = first.peek(first.length);
    const verdict = wire.detector.inspect(head);
    if (verdict.kind === 'accept') accept(verdict, head, rest, push);
    else if (verdict.kind === 'reject') rejectWith(verdict.reason, push, rest);
    // §10 row 4 fix: a first packet too big for 0.0.5's buffer is relayed, not dropped.
    else if (head.length === MAX_FIRST_PACKET)
      rejectWith(`no verdict within ${MAX_FIRST_PACKET} bytes`, push, rest);
  };

  const decode: Codec = {
    transform(chunk, push) {
      if (phase === 'accepted') wire.decode(chunk, push);
      else if (phase === 'rejected') push(chunk);
      else if (chunk.length > 0) detect(chunk, push);
    },
    // §2.3: 0.0.5 drops a peer that closes before a verdict; we relay what it sent instead.
    flush(push) {
      if (phase === 'detecting' && first.length > 0) rejectWith('closed before a verdict', push);
      else if (phase === 'accepted') wire.end();
    },
    // The SDK's handshake deadline passed: a stalled first packet is relayed like a rejected one.
    expire(push) {
      if (phase === 'detecting' && first.length > 0) {
        rejectWith('no verdict before the handshake deadline', push);
      }
    },
  };

  const encode: Codec = {
    transform(chunk, push) {
      if (chunk.length === 0) return;
      if (phase !== 'detecting') encodeOut(chunk, push);
      else {
        held ??= new ByteReader({
          maxBytes: HOLD_LIMIT,
          what: 'upstream bytes before the handshake verdict',
        });
        held.append(chunk);
      }
    },
  };
  return { encode, decode };
}
