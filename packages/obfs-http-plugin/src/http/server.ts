import type { Push } from '@sip003/sdk';
import { WAIT, reject, type Detector, type ServerWire, type Verdict } from '../constants.ts';
import { buildResponse } from './response.ts';

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const GET = Buffer.from('get', 'latin1');
const UPGRADE = Buffer.from('upgrade:', 'latin1');
const HOST = Buffer.from('host:', 'latin1');
const KEY = Buffer.from('sec-websocket-key:', 'latin1');
const WEBSOCKET = Buffer.from('websocket', 'latin1');

/**
 * Server-side detector for the HTTP request of obfs-local (§2.3), with 0.0.5's acceptance rules:
 * - the first three bytes are `GET`, case-insensitively; the rest of the request line is ignored;
 * - the first `Upgrade:` header (name case-insensitive, at least one character after the colon)
 *   has a value, after leading blanks, that is a case-sensitive prefix of `websocket`;
 * - only when the server has an obfs-host: the first `Host:` header's value, cut at its last
 *   `:`, equals obfs-host case-insensitively;
 * - the header block ends at the first CR LF CR LF; Content-Length is ignored.
 *
 * It works on complete lines only, so any segmentation gives the same verdict (0.0.5 rejects a
 * read that ends one byte after a CR LF, §2.3). Deliberate difference: a line ended by a bare
 * LF is rejected at once. 0.0.5 never finds the end of such a header and hangs until its idle
 * timer; obfs-local never sends one, and a real web server (the failover) accepts it, so a
 * probe using LF-only lines now gets the failover's answer instead of silence. Headers too
 * large for the first packet are rejected by the caller (MAX_FIRST_PACKET).
 */
export class HttpRequestDetector implements Detector {
  readonly #host: Buffer | undefined;
  /** Start of the first line not yet complete. */
  #lineStart = 0;
  /** Where the search for that line's LF resumes (everything before has been searched). */
  #searched = 0;
  #requestLineDone = false;
  #upgradeSeen = false;
  #hostSeen = false;
  /** The request's Sec-WebSocket-Key (first occurrence, blanks trimmed), for the 101's Accept. */
  key: string | undefined;

  /** `host`: the server's obfs-host; undefined means any Host, or none, is accepted (§2.3 step 4). */
  constructor(host: string | undefined) {
    this.#host = host === undefined ? undefined : Buffer.from(host, 'utf8');
  }

  inspect(head: Buffer): Verdict {
    for (let i = 0; i < Math.min(GET.length, head.length); i++) {
      if (lower(head[i] ?? -1) !== GET[i]) return reject('request method does not start with GET');
    }
    for (;;) {
      const lf = head.indexOf(LF, Math.max(this.#lineStart, this.#searched));
      if (lf === -1) {
        this.#searched = head.length;
        return WAIT;
      }
      const start = this.#lineStart;
      this.#lineStart = lf + 1;
      if (lf === start || head[lf - 1] !== CR) return reject('header line not ended by CR LF');
      const end = lf - 1;
      if (!this.#requestLineDone) {
        this.#requestLineDone = true;
        continue;
      }
      if (end === start) return this.#endOfHeader(lf + 1);
      const problem = this.#headerLine(head, start, end);
      if (problem !== undefined) return reject(problem);
    }
  }

  #endOfHeader(payloadStart: number): Verdict {
    // Headers after the blank line are never looked at (§2.3: upgrade-after-blank-line).
    if (!this.#upgradeSeen) return reject('no Upgrade header');
    if (this.#host !== undefined && !this.#hostSeen) return reject('no Host header');
    return { kind: 'accept', payloadStart, payloadEnd: payloadStart, restStart: payloadStart };
  }

  /** Checks one header line `head[start, end)` (CR LF excluded); returns why it fails, if it does. */
  #headerLine(head: Buffer, start: number, end: number): string | undefined {
    const length = end - start;
    if (
      !this.#upgradeSeen &&
      length > UPGRADE.length &&
      startsWithIgnoreCase(head, start, UPGRADE)
    ) {
      this.#upgradeSeen = true;
      // 0.0.5 does strncmp(value, "websocket", strlen(value)): `web` and even `` pass.
      const value = head.subarray(skipBlanks(head, start + UPGRADE.length, end), end);
      if (value.length > WEBSOCKET.length || !value.equals(WEBSOCKET.subarray(0, value.length))) {
        return 'Upgrade is not websocket';
      }
    } else if (
      this.#host !== undefined &&
      !this.#hostSeen &&
      length > HOST.length &&
      startsWithIgnoreCase(head, start, HOST)
    ) {
      this.#hostSeen = true;
      const value = skipBlanks(head, start + HOST.length, end);
      // Cut at the last colon of the value: `host:8388` and `host:1` match, `host:8080:8388` not.
      const colon = head.lastIndexOf(COLON, end - 1);
      const valueEnd = colon >= value ? colon : end;
      if (!equalsIgnoreCase(head, value, valueEnd, this.#host))
        return 'Host does not match obfs-host';
    } else if (
      this.key === undefined &&
      length > KEY.length &&
      startsWithIgnoreCase(head, start, KEY)
    ) {
      this.key = head.toString('latin1', skipBlanks(head, start + KEY.length, end), end).trimEnd();
    }
    return undefined;
  }
}

/**
 * The server half of HTTP mode: detection (§2.3), then the client's bytes go raw; upstream's
 * first bytes get the 101 header (§2.2), the rest goes raw. With `reverseProxy` the 101 goes out
 * with an empty body as soon as the request is accepted, like 0.0.5's reverse_proxy flag.
 */
export function httpServerWire(host: string | undefined, reverseProxy: boolean): ServerWire {
  const detector = new HttpRequestDetector(host);
  const raw = (data: Buffer, push: Push): void => push(data);
  return {
    detector,
    decode: raw,
    end: () => undefined,
    answer: (chunk) => buildResponse(detector.key, chunk),
    encode: raw,
    early: reverseProxy ? () => buildResponse(detector.key, Buffer.alloc(0)).packet : undefined,
  };
}

function skipBlanks(data: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && (data[i] === 0x20 || data[i] === 0x09)) i++;
  return i;
}

/** ASCII case folding only, like strncasecmp in the C locale. */
function lower(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
}

/** `lowerPrefix` must already be lower case. */
function startsWithIgnoreCase(data: Buffer, at: number, lowerPrefix: Buffer): boolean {
  for (let i = 0; i < lowerPrefix.length; i++) {
    if (lower(data[at + i] ?? -1) !== lowerPrefix[i]) return false;
  }
  return true;
}

function equalsIgnoreCase(data: Buffer, start: number, end: number, expected: Buffer): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    if (lower(data[start + i] ?? -1) !== lower(expected[i] ?? -1)) return false;
  }
  return true;
}
