import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@sip003/sdk';
import { MAX_FIRST_PACKET } from '../src/constants.ts';
import { HttpResponseDecoder } from '../src/http/client.ts';
import {
  SERVER_SOFTWARE,
  buildResponse,
  responseHeader,
  websocketAccept,
} from '../src/http/response.ts';
import { CodecRunner, ascii, byteByByte, splitAt } from './helpers.ts';

describe('responseHeader (§2.2)', () => {
  it('derives Accept from the key as RFC 6455 §1.3 does', () => {
    expect(websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('writes the 0.0.5 lines in order with a real UTC date', () => {
    const now = new Date(Date.UTC(2026, 10, 24, 19, 7, 54));
    const text = responseHeader('dGhlIHNhbXBsZSBub25jZQ==', now);
    expect(text).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        `Server: ${SERVER_SOFTWARE}\r\n` +
        'Date: Tue, 24 Nov 2026 19:07:54 GMT\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
    );
    // 0.0.5's header is 184 bytes for nginx/1.10.9 (§2.2); a real SHA-1 Accept is 4 longer.
    expect(text.length).toBe(184 + 4 + SERVER_SOFTWARE.length - 'nginx/1.10.9'.length);
  });

  it('pads single-digit days like strftime %d', () => {
    expect(responseHeader(undefined, new Date(Date.UTC(2026, 0, 3, 4, 5, 6)))).toContain(
      'Date: Sat, 03 Jan 2026 04:05:06 GMT\r\n',
    );
  });

  it('uses 20 random bytes for Accept when the request had no key (the length of a SHA-1)', () => {
    const accepts = new Set(
      Array.from(
        { length: 20 },
        () => /Sec-WebSocket-Accept: (\S+)/.exec(responseHeader(undefined))![1],
      ),
    );
    expect(accepts.size).toBe(20);
    for (const accept of accepts) expect(Buffer.from(accept!, 'base64')).toHaveLength(20);
  });

  it('draws the nginx version within 0.0.5 ranges', () => {
    const match = /^nginx\/1\.(\d+)\.(\d+)$/.exec(SERVER_SOFTWARE);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThanOrEqual(1);
    expect(Number(match![1])).toBeLessThanOrEqual(10);
    expect(Number(match![2])).toBeGreaterThanOrEqual(1);
    expect(Number(match![2])).toBeLessThanOrEqual(11);
  });

  it('puts header and first payload in one buffer, capped at 16384', () => {
    const small = buildResponse(undefined, ascii('world'));
    expect(small.consumed).toBe(5);
    expect(small.packet.subarray(-9).toString('latin1')).toBe('\r\n\r\nworld');
    const big = buildResponse(undefined, Buffer.alloc(100000, 1));
    expect(big.packet.length).toBe(MAX_FIRST_PACKET);
    expect(big.consumed).toBe(MAX_FIRST_PACKET - (big.packet.indexOf('\r\n\r\n') + 4));
  });
});

describe('HttpResponseDecoder (§2.4)', () => {
  const response = Buffer.concat([ascii(responseHeader('k')), ascii('DATA')]);

  it.each([
    ['one chunk', [response.length]],
    ['split inside the header (0.0.5 aborts here)', [40]],
    ['split inside CR LF CR LF', [response.indexOf('\r\n\r\n') + 1, 1, 1]],
    ['header alone, then data', [response.length - 4]],
  ])('strips the header: %s', (_name, sizes) => {
    const run = new CodecRunner(new HttpResponseDecoder()).write(...splitAt(response, sizes)).end();
    expect(run.output.toString()).toBe('DATA');
  });

  it('strips the header delivered byte by byte', () => {
    const run = new CodecRunner(new HttpResponseDecoder()).write(...byteByByte(response)).end();
    expect(run.output.toString()).toBe('DATA');
  });

  it.each([
    ['HTTP/1.1 200 OK\r\n\r\nDATA', 'DATA'],
    ['\r\n\r\nDATA', 'DATA'],
    ['anything at all\r\n\r\nDATA', 'DATA'],
    ['HTTP/1.1 101 X\r\n\r\nA\r\n\r\nB', 'A\r\n\r\nB'],
    ['\r\r\n\r\n\r\nX', '\r\nX'],
    ['\n\r\n\r\nX', 'X'],
  ])('is as lenient as 0.0.5: %j → %j', (input, expected) => {
    expect(
      new CodecRunner(new HttpResponseDecoder())
        .write(ascii(input))
        .end()
        .output.toString('latin1'),
    ).toBe(expected);
  });

  it('passes the data after the header as views of the input (no copy)', () => {
    const run = new CodecRunner(new HttpResponseDecoder()).write(response);
    expect(run.pushes[0]!.buffer).toBe(response.buffer);
  });

  it('throws ProtocolError when no blank line comes within 16384 bytes', () => {
    const run = new CodecRunner(new HttpResponseDecoder());
    run.write(Buffer.alloc(MAX_FIRST_PACKET - 1, 0x61));
    expect(() => run.write(Buffer.alloc(10, 0x61))).toThrow(ProtocolError);
    expect(run.pushes).toHaveLength(0);
  });

  it('accepts a blank line ending exactly at byte 16384', () => {
    const input = Buffer.concat([Buffer.alloc(MAX_FIRST_PACKET - 4, 0x61), ascii('\r\n\r\nZ')]);
    expect(new CodecRunner(new HttpResponseDecoder()).write(input).output.toString()).toBe('Z');
  });

  it('throws ProtocolError when the stream ends inside the header, not when it is empty', () => {
    expect(() =>
      new CodecRunner(new HttpResponseDecoder()).write(ascii('HTTP/1.1 101')).end(),
    ).toThrow('HTTP response header: stream ended after 12 bytes, before the blank line');
    expect(() => new CodecRunner(new HttpResponseDecoder()).end()).not.toThrow();
  });
});
