import { describe, expect, it } from 'vitest';
import type { Verdict } from '../src/constants.ts';
import { HttpRequestDetector } from '../src/http/server.ts';
import { ascii, byteByByte, inspectPieces, randomChunks, seededRandom } from './helpers.ts';

const LINES = {
  first: 'GET / HTTP/1.1',
  host: 'Host: www.example.com:8388',
  ua: 'User-Agent: curl/7.35.1',
  upg: 'Upgrade: websocket',
  conn: 'Connection: Upgrade',
  key: 'Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==',
  cl: 'Content-Length: 7',
};
type Overrides = Partial<Record<keyof typeof LINES, string | null>>;

function request(over: Overrides = {}, body = 'PAYLOAD', eol = '\r\n'): Buffer {
  const lines = Object.values({ ...LINES, ...over }).filter(
    (line): line is string => line !== null,
  );
  return ascii(lines.join(eol) + eol + eol + body);
}

/** Feeds the pieces as a growing head, the way session.ts does, and returns the last verdict. */
/** `host` null: the server has no obfs-host. */
function judge(pieces: Buffer[], host: string | null = 'www.example.com'): Verdict {
  return inspectPieces(new HttpRequestDetector(host ?? undefined), pieces);
}

const accepted = (data: Buffer): Verdict => {
  const at = data.indexOf('\r\n\r\n') + 4;
  return { kind: 'accept', payloadStart: at, payloadEnd: at, restStart: at };
};

describe('HttpRequestDetector (§2.3)', () => {
  it.each<[string, Overrides, string | undefined]>([
    ['canonical', {}, undefined],
    ['lower-case get', { first: 'get / HTTP/1.1' }, undefined],
    ['GETX prefix', { first: 'GETX / HTTP/1.1' }, undefined],
    ['URI and version not checked', { first: 'GET /any/path?q=1 HTTP/1.0' }, undefined],
    ['Upgrade value prefix web', { upg: 'Upgrade: web' }, undefined],
    ['Upgrade without blank', { upg: 'Upgrade:websocket' }, undefined],
    ['Upgrade name lower case', { upg: 'upgrade: websocket' }, undefined],
    ['Upgrade value blank', { upg: 'Upgrade: ' }, undefined],
    ['Upgrade value after a tab', { upg: 'Upgrade:\twebsocket' }, undefined],
    ['Host without port', { host: 'Host: www.example.com' }, undefined],
    ['Host upper case with port', { host: 'Host: WWW.EXAMPLE.COM:1' }, undefined],
    ['no Content-Length', { cl: null }, undefined],
    ['wrong Content-Length', { cl: 'Content-Length: 2' }, undefined],
    ['second Upgrade ignored', { conn: 'Upgrade: nonsense' }, undefined],
    ['Host with a trailing colon', { host: 'Host: www.example.com:' }, undefined],
  ])('accepts: %s', (_name, over) => {
    const data = request(over);
    expect(judge([data])).toEqual(accepted(data));
  });

  it.each<[string, Overrides, string]>([
    ['POST', { first: 'POST / HTTP/1.1' }, 'request method does not start with GET'],
    ['no Upgrade', { upg: null }, 'no Upgrade header'],
    ['Upgrade WebSocket', { upg: 'Upgrade: WebSocket' }, 'Upgrade is not websocket'],
    ['Upgrade websocketx', { upg: 'Upgrade: websocketx' }, 'Upgrade is not websocket'],
    ['Upgrade with trailing blank', { upg: 'Upgrade: websocket ' }, 'Upgrade is not websocket'],
    ['Host mismatch', { host: 'Host: www.bing.com' }, 'Host does not match obfs-host'],
    ['Host prefix only', { host: 'Host: www.example' }, 'Host does not match obfs-host'],
    ['Host longer', { host: 'Host: www.example.com.evil' }, 'Host does not match obfs-host'],
    [
      'Host two colons',
      { host: 'Host: www.example.com:8080:8388' },
      'Host does not match obfs-host',
    ],
    ['Host missing', { host: null }, 'no Host header'],
    ['Host empty', { host: 'Host: ' }, 'Host does not match obfs-host'],
  ])('rejects: %s', (_name, over, reason) => {
    expect(judge([request(over)])).toEqual({ kind: 'reject', reason });
  });

  it('rejects "Upgrade:" with nothing after the colon as a missing header (0.0.5 needs one char)', () => {
    expect(judge([request({ upg: 'Upgrade:' })])).toEqual({
      kind: 'reject',
      reason: 'no Upgrade header',
    });
  });

  it('does not look at headers after the blank line', () => {
    const data = ascii('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\nUpgrade: websocket\r\n\r\n');
    expect(judge([data])).toEqual({ kind: 'reject', reason: 'no Upgrade header' });
  });

  it('accepts any Host, or none, when the server has no obfs-host', () => {
    for (const over of [{ host: 'Host: anything.invalid:1' }, { host: null }]) {
      const data = request(over);
      expect(judge([data], null)).toEqual(accepted(data));
    }
  });

  it('rejects bare LF line endings at once (0.0.5 hangs forever)', () => {
    expect(judge([request({}, 'PAYLOAD', '\n')])).toEqual({
      kind: 'reject',
      reason: 'header line not ended by CR LF',
    });
    expect(judge([ascii('GET / HTTP/1.1\r\nHost: x\n')])).toEqual({
      kind: 'reject',
      reason: 'header line not ended by CR LF',
    });
  });

  it('rejects on the first wrong method byte without waiting for 4 bytes', () => {
    expect(judge([ascii('P')])).toEqual({
      kind: 'reject',
      reason: 'request method does not start with GET',
    });
    expect(judge([ascii('G')])).toEqual({ kind: 'wait' });
    expect(judge([ascii('GET')])).toEqual({ kind: 'wait' });
  });

  it('waits while the header is incomplete', () => {
    const data = request();
    const end = data.indexOf('\r\n\r\n');
    for (const cut of [1, 16, 17, 45, end, end + 1, end + 2, end + 3]) {
      expect(judge([data.subarray(0, cut)])).toEqual({ kind: 'wait' });
    }
  });

  it('gives the same verdict for every segmentation (0.0.5 rejects a read ending 1 byte after CR LF)', () => {
    const data = request();
    const expected = accepted(data);
    const crlf = data.indexOf('\r\nUser-Agent');
    expect(judge([data.subarray(0, crlf + 3), data.subarray(crlf + 3)])).toEqual(expected);
    expect(judge(byteByByte(data))).toEqual(expected);
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) expect(judge(randomChunks(data, random, 24))).toEqual(expected);
  });

  it('rejects a mismatching complete line before the header ends', () => {
    expect(judge([ascii('GET / HTTP/1.1\r\nHost: www.bing.com\r\n')])).toEqual({
      kind: 'reject',
      reason: 'Host does not match obfs-host',
    });
  });

  it('remembers the first Sec-WebSocket-Key, trimmed', () => {
    const detector = new HttpRequestDetector(undefined);
    detector.inspect(
      request({
        key: 'sec-websocket-key:   dGhlIHNhbXBsZSBub25jZQ==  ',
        cl: 'Sec-WebSocket-Key: other',
      }),
    );
    expect(detector.key).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    const none = new HttpRequestDetector(undefined);
    none.inspect(request({ key: null }));
    expect(none.key).toBeUndefined();
  });

  it('compares the Host case-insensitively in ASCII only, like strcasecmp in the C locale', () => {
    const head = (host: string) =>
      Buffer.from(`GET / HTTP/1.1\r\nUpgrade: websocket\r\nHost: ${host}:443\r\n\r\n`, 'utf8');
    expect(new HttpRequestDetector('é.example').inspect(head('É.example')).kind).toBe('reject');
    expect(new HttpRequestDetector('é.example').inspect(head('é.EXAMPLE')).kind).toBe('accept');
  });
});
