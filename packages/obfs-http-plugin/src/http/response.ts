import { createHash } from 'node:crypto';
import { MAX_FIRST_PACKET, WEBSOCKET_GUID, type FirstPacket } from '../constants.ts';
import { randomBytes, randomIntBetween } from '../random.ts';

/**
 * `nginx/1.C.D`, drawn once per process like 0.0.5 (§2.2: C 0..10, D 0..11 with a drawn 0
 * redrawn, so they settle on 1..10 and 1..11), from the CSPRNG: an unseeded 0.0.5 always
 * starts with `nginx/1.10.9`, a fingerprint we do not copy (§10 row 11).
 */
export const SERVER_SOFTWARE = `nginx/1.${randomIntBetween(1, 11)}.${randomIntBetween(1, 12)}`;

/** RFC 6455 §4.2.2: base64(SHA-1(key + GUID)). 0.0.5 sends random bytes instead (§10 row 11). */
export function websocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID, 'latin1')
    .digest('base64');
}

/**
 * The 101 response header (§2.2), blank line included. The Accept value is derived from the
 * request's key when there is one, else 20 random bytes so it has the length of a real SHA-1
 * Accept either way (28 characters; 0.0.5's 16 random bytes give 24). The Date is real UTC
 * (`toUTCString()` is the IMF-fixdate `Tue, 24 Nov 2026 19:07:54 GMT`); 0.0.5 prints local time.
 */
export function responseHeader(key: string | undefined, now: Date = new Date()): string {
  const accept = key === undefined ? randomBytes(20).toString('base64') : websocketAccept(key);
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    `Server: ${SERVER_SOFTWARE}\r\n` +
    `Date: ${now.toUTCString()}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
  );
}

/**
 * The server's first packet: the 101 header plus as much of `chunk` as fits in `limit` bytes,
 * in one buffer, since obfs-local needs the whole header in its first read (§2.4, §12 server 2).
 * The rest of the stream goes raw.
 */
export function buildResponse(
  key: string | undefined,
  chunk: Uint8Array,
  now: Date = new Date(),
  limit: number = MAX_FIRST_PACKET,
): FirstPacket {
  const header = responseHeader(key, now);
  const headerLength = Buffer.byteLength(header, 'latin1');
  const consumed = Math.max(0, Math.min(chunk.length, limit - headerLength));
  const packet = Buffer.allocUnsafe(headerLength + consumed);
  packet.write(header, 0, 'latin1');
  packet.set(chunk.subarray(0, consumed), headerLength);
  return { packet, consumed };
}
