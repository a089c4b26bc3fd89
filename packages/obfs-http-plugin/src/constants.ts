/**
 * Wire limits of simple-obfs and the shapes shared by the HTTP and TLS halves: detector verdicts
 * and the per-mode "wire" objects session.ts drives. Section numbers (§) in this package refer to
 * spec/simple-obfs-wire.md.
 */
import type { Codec, Push } from '@sip003/sdk';

/**
 * Largest application-data record payload we send or accept (§3.3, §3.4 step 6): obfs-server
 * 0.0.5 rejects 16385, and RFC 5246 caps TLSPlaintext at 2^14 too.
 */
export const MAX_RECORD_PAYLOAD = 16384;

/**
 * obfs-server 0.0.5 reads its first packet into a 16384-byte buffer (§2.3, §3.4), so an HTTP
 * request header or a ClientHello that does not fit can never work. It caps what our server
 * buffers before a verdict, what our client writes as its first packet (§12 client 2-3), and
 * what our client buffers while waiting for the server's HTTP response header.
 */
export const MAX_FIRST_PACKET = 16384;

/**
 * Our ClientHello's total size. obfs-server 0.0.5 crashes or leaks heap when one of its reads ends
 * between the ticket and the end of the hello (§3.4 step 5, §10 row 2); a hello that fits one TCP
 * segment (MSS 1460 on Ethernet, less behind PPPoE or tunnels) is never split, so it can never
 * land there. obfs-local's own 2048-byte first payloads do not fit; ours do.
 */
export const MAX_CLIENT_HELLO = 1400;

/** The fixed part of the server flight in front of the "Finished" payload (§3.2). */
export const SERVER_FLIGHT_PREFIX = 107;

/** Offset of the first payload byte inside our ClientHello: the ticket is always first (§3.1). */
export const TICKET_OFFSET = 142;

/** 0.0.5 silently truncates `host[:port]` at 255 bytes (§10 row 12); we refuse instead. */
export const MAX_HOST_LENGTH = 255;

/** RFC 6455 §1.3: appended to Sec-WebSocket-Key before hashing it into Sec-WebSocket-Accept. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * What a server-side detector concludes from the first bytes of a connection. Offsets are into
 * the accumulated first packet: `[payloadStart, payloadEnd)` is the first payload (TLS ticket,
 * empty for HTTP) and everything from `restStart` on is ordinary stream data.
 */
export type Verdict =
  | { readonly kind: 'wait' }
  | {
      readonly kind: 'accept';
      readonly payloadStart: number;
      readonly payloadEnd: number;
      readonly restStart: number;
    }
  | { readonly kind: 'reject'; readonly reason: string };

/** A server-side first-packet detector (§2.3 HTTP, §3.4 TLS). */
export interface Detector {
  /**
   * Looks at everything received so far (at most MAX_FIRST_PACKET bytes). `head` only ever
   * grows by appending, so implementations may remember how far they have scanned.
   */
  inspect(head: Buffer): Verdict;
}

/** The `wait` verdict; one shared object since it carries no data. */
export const WAIT: Verdict = { kind: 'wait' };

/** A `reject` verdict with a reason for the debug log. */
export function reject(reason: string): Verdict {
  return { kind: 'reject', reason };
}

/** A first packet built by an encoder: `packet` carries the first `consumed` bytes of the chunk. */
export interface FirstPacket {
  readonly packet: Buffer;
  readonly consumed: number;
}

/** The mode-specific half of a client session (HTTP: §2.1/§2.4, TLS: §3.1/§3.5). */
export interface ClientWire {
  /** Builds the first packet toward the server from the app's first bytes. */
  first(chunk: Buffer): FirstPacket;
  /** Encodes the app's later bytes. */
  later(data: Buffer, push: Push): void;
  /** Decodes everything the server sends. */
  readonly decode: Codec;
}

/** The mode-specific half of a server session (HTTP: §2.2/§2.3, TLS: §3.2/§3.4). */
export interface ServerWire {
  readonly detector: Detector;
  /** Decodes the client's bytes after acceptance. */
  decode(data: Buffer, push: Push): void;
  /** The client's side ended after acceptance; throws if it ended inside a frame. */
  end(): void;
  /** Builds the first packet toward the client from upstream's first bytes (after acceptance). */
  answer(chunk: Buffer): FirstPacket;
  /** Encodes upstream's later bytes. */
  encode(data: Buffer, push: Push): void;
  /** The reply to send as soon as the request is accepted (HTTP reverse_proxy), if any. */
  readonly early: (() => Buffer) | undefined;
}
