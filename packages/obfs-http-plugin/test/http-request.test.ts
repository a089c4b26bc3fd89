import { describe, expect, it } from 'vitest';
import { MAX_FIRST_PACKET } from '../src/constants.ts';
import { USER_AGENT, buildRequest, hostHeader, requestPrefix } from '../src/http/request.ts';
import { ascii } from './helpers.ts';

const options = { host: 'www.example.com', port: 40025 };

function parse(packet: Buffer): { lines: string[]; body: Buffer } {
  const end = packet.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  return { lines: packet.toString('latin1', 0, end).split('\r\n'), body: packet.subarray(end + 4) };
}

describe('buildRequest (§2.1)', () => {
  it('writes the 0.0.5 header lines in order, then the payload', () => {
    const { packet, consumed } = buildRequest(options, ascii('hello'));
    expect(consumed).toBe(5);
    const { lines, body } = parse(packet);
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe('GET / HTTP/1.1');
    expect(lines[1]).toBe('Host: www.example.com:40025');
    expect(lines[2]).toBe(`User-Agent: ${USER_AGENT}`);
    expect(lines[3]).toBe('Upgrade: websocket');
    expect(lines[4]).toBe('Connection: Upgrade');
    expect(lines[5]).toMatch(/^Sec-WebSocket-Key: [A-Za-z0-9+/]{22}==$/);
    expect(lines[6]).toBe('Content-Length: 5');
    expect(body.toString()).toBe('hello');
    // The captured 0.0.5 request for this host, port and a 1-byte Content-Length is 177 bytes
    // of header when the User-Agent is curl/7.N.N with a two-digit N (§2.1 "Typical size").
    expect(packet.length - 5).toBe(177 + USER_AGENT.length - 'curl/7.18.0'.length);
  });

  it('draws User-Agent once per process within 0.0.5 ranges', () => {
    const match = /^curl\/7\.(\d+)\.(\d+)$/.exec(USER_AGENT);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThanOrEqual(1);
    expect(Number(match![1])).toBeLessThanOrEqual(50);
    expect(['0', '1']).toContain(match![2]);
  });

  it('uses a fresh 16-byte key per request', () => {
    const keys = new Set(
      Array.from({ length: 50 }, () => /Sec-WebSocket-Key: (\S+)/.exec(requestPrefix(options))![1]),
    );
    expect(keys.size).toBe(50);
    for (const key of keys) expect(Buffer.from(key!, 'base64')).toHaveLength(16);
  });

  it('takes method and URI when given', () => {
    const { packet } = buildRequest({ ...options, method: 'POST', uri: '/api?q=1' }, ascii('x'));
    expect(parse(packet).lines[0]).toBe('POST /api?q=1 HTTP/1.1');
  });

  it('caps header + payload at 16384 bytes and reports what it consumed', () => {
    const payload = Buffer.alloc(20000, 0x61);
    const { packet, consumed } = buildRequest(options, payload);
    expect(packet.length).toBe(MAX_FIRST_PACKET);
    const { lines, body } = parse(packet);
    expect(body.length).toBe(consumed);
    expect(lines[6]).toBe(`Content-Length: ${consumed}`);
  });

  it('fits exactly at the limit whatever the Content-Length width', () => {
    for (let limit = 250; limit < 300; limit++) {
      const { packet, consumed } = buildRequest(options, Buffer.alloc(1000), limit);
      expect(packet.length).toBeLessThanOrEqual(limit);
      expect(parse(packet).body.length).toBe(consumed);
    }
  });

  it('copies the payload, so the caller may reuse its buffer', () => {
    const payload = ascii('abc');
    const { packet } = buildRequest(options, payload);
    payload.fill(0);
    expect(parse(packet).body.toString()).toBe('abc');
  });

  it.each([
    [{ ...options, method: 'GE T' }, 'HTTP method must be a token, got "GE T"'],
    [{ ...options, uri: '/a b' }, 'HTTP URI must be visible ASCII, got "/a b"'],
    [
      { ...options, host: 'a\r\nX-Injected: 1' },
      'obfs-host must not be empty or contain spaces or control characters',
    ],
    [{ ...options, host: '' }, 'obfs-host must not be empty'],
    [{ ...options, host: 'a'.repeat(250) }, 'Host header must be at most 255 bytes, got 256'],
  ])('refuses %o', (bad, message) => {
    expect(() => requestPrefix(bad)).toThrow(RangeError);
    expect(() => requestPrefix(bad)).toThrow(message);
  });
});

describe('hostHeader (§2.1, §10 row 12)', () => {
  it.each([
    ['www.example.com', 8388, 'www.example.com:8388'],
    ['www.example.com', 80, 'www.example.com'],
    ['www.example.com:8080', 8388, 'www.example.com:8080'],
    ['www.example.com:8080', 80, 'www.example.com:8080'],
    ['192.0.2.1', 443, '192.0.2.1:443'],
    ['[2001:db8::1]', 443, '[2001:db8::1]:443'],
    ['[2001:db8::1]:8443', 443, '[2001:db8::1]:8443'],
    ['2001:db8::1', 443, '[2001:db8::1]:443'],
    ['2001:db8::1', 80, '[2001:db8::1]'],
  ])('%s dialled on %d → %s', (host, port, expected) => {
    expect(hostHeader(host, port)).toBe(expected);
  });
});
