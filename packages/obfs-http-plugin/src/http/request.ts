import { isIP } from 'node:net';
import { MAX_FIRST_PACKET, MAX_HOST_LENGTH, type FirstPacket } from '../constants.ts';
import { randomBytes, randomIntBetween } from '../random.ts';

/** What goes into the client's first request (§2.1). */
export interface RequestOptions {
  /** obfs-host: the Host header value, before the port is added. */
  readonly host: string;
  /** The port the client dials; appended to Host unless it is 80 or the host has a port. */
  readonly port: number;
  /** Request method; `GET` by default. A 0.0.5 server rejects anything not starting with GET. */
  readonly method?: string;
  /** Request target; `/` by default. A 0.0.5 server ignores it. */
  readonly uri?: string;
}

/**
 * `curl/7.A.B`, drawn once per process like 0.0.5 (§2.1: A 0..50, B 0..1, where a drawn 0 is
 * redrawn, so A settles on 1..50), but from the CSPRNG instead of the second-seeded rand().
 */
export const USER_AGENT = `curl/7.${randomIntBetween(1, 51)}.${randomIntBetween(0, 2)}`;

// RFC 9110 token characters for the method; visible ASCII for the request target.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VISIBLE = /^[\x21-\x7e]+$/;
/** Control characters and blanks could end or split a header line; the host may be UTF-8. */
function unsafeInHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const code = host.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * The Host header value: obfs-host plus `:port`, except for port 80 (observed in 0.0.5) and,
 * fixing §10 row 12, when obfs-host already carries a port (0.0.5 sends `host:8080:40475`).
 */
export function hostHeader(host: string, port: number): string {
  if (isIP(host) === 6) return port === 80 ? `[${host}]` : `[${host}]:${port}`;
  if (port === 80 || hasPort(host)) return host;
  return `${host}:${port}`;
}

function hasPort(host: string): boolean {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close !== -1 && close < host.length - 1;
  }
  return host.includes(':');
}

/**
 * The request header up to and including the Sec-WebSocket-Key line (§2.1: exactly these lines
 * in this order). The key is 16 random bytes, new per call, i.e. per connection.
 */
export function requestPrefix(options: RequestOptions): string {
  const method = options.method ?? 'GET';
  const uri = options.uri ?? '/';
  if (options.host.length === 0 || unsafeInHost(options.host)) {
    throw new RangeError(
      `obfs-host must not be empty or contain spaces or control characters, got ${JSON.stringify(options.host)}`,
    );
  }
  const host = hostHeader(options.host, options.port);
  if (!TOKEN.test(method))
    throw new RangeError(`HTTP method must be a token, got ${JSON.stringify(method)}`);
  if (!VISIBLE.test(uri))
    throw new RangeError(`HTTP URI must be visible ASCII, got ${JSON.stringify(uri)}`);
  if (Buffer.byteLength(host) > MAX_HOST_LENGTH) {
    throw new RangeError(
      `Host header must be at most ${MAX_HOST_LENGTH} bytes, got ${Buffer.byteLength(host)}`,
    );
  }
  return (
    `${method} ${uri} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    `User-Agent: ${USER_AGENT}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n`
  );
}

/**
 * The client's first packet: request header plus as much of `chunk` as fits in `limit` bytes,
 * in one buffer because obfs-server needs the header in one read (§2.1, §12 client 2).
 * Content-Length is the length of this piece only; the rest of the stream is raw (§2.1).
 */
export function buildRequest(
  options: RequestOptions,
  chunk: Uint8Array,
  limit: number = MAX_FIRST_PACKET,
): FirstPacket {
  const prefix = requestPrefix(options);
  // Size the piece with the widest Content-Length it can need, so header + piece <= limit.
  const widest = Buffer.byteLength(prefix) + contentLength(Math.min(chunk.length, limit)).length;
  const consumed = Math.max(0, Math.min(chunk.length, limit - widest));
  if (consumed === 0 && chunk.length > 0) {
    throw new RangeError(`HTTP request header leaves no room for payload within ${limit} bytes`);
  }
  const header = prefix + contentLength(consumed);
  const headerLength = Buffer.byteLength(header);
  const packet = Buffer.allocUnsafe(headerLength + consumed);
  packet.write(header, 0, 'utf8');
  packet.set(chunk.subarray(0, consumed), headerLength);
  return { packet, consumed };
}

function contentLength(length: number): string {
  return `Content-Length: ${length}\r\n\r\n`;
}
