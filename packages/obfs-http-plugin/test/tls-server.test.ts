import { describe, expect, it } from 'vitest';
import type { Verdict } from '../src/constants.ts';
import { buildClientHello } from '../src/tls/client.ts';
import { recordHeader } from '../src/tls/records.ts';
import { ClientHelloDetector, buildServerFlight } from '../src/tls/server.ts';
import { ascii, byteByByte, hex, inspectPieces, randomChunks, seededRandom } from './helpers.ts';

const HOST = ascii('www.example.com');

describe('buildServerFlight (§3.2)', () => {
  const id = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

  it('lays out the 107-byte prefix of §3.2, extensions length fixed to 15', () => {
    const now = Date.UTC(2026, 10, 24, 19, 8, 1);
    const { packet, consumed } = buildServerFlight(id, ascii('world'), now);
    expect(consumed).toBe(5);
    expect(packet.length).toBe(112);
    expect(packet.toString('hex', 0, 11)).toBe('160301005b020000570303');
    expect(packet.readUInt32BE(11)).toBe(Math.floor(now / 1000));
    expect(packet[43]).toBe(0x20);
    expect(packet.subarray(44, 76).equals(id)).toBe(true);
    expect(packet.toString('hex', 76, 79)).toBe('cca800');
    expect(packet.readUInt16BE(79)).toBe(15); // 0.0.5 writes 0 here (§10 row 11)
    expect(packet.toString('hex', 81, 96)).toBe('ff0100010000170000000b00020100');
    expect(packet.toString('hex', 96, 107)).toBe('14030300010116030300' + '05');
    expect(packet.subarray(107).toString()).toBe('world');
  });

  it('uses a fresh random per flight', () => {
    const a = buildServerFlight(id, ascii('x')).packet;
    const b = buildServerFlight(id, ascii('x')).packet;
    expect(a.subarray(15, 43).equals(b.subarray(15, 43))).toBe(false);
  });

  it('carries at most 16384 payload bytes', () => {
    const { packet, consumed } = buildServerFlight(id, Buffer.alloc(100000));
    expect(consumed).toBe(16384);
    expect(packet.length).toBe(107 + 16384);
    expect(packet.readUInt16BE(105)).toBe(16384);
  });

  it('refuses a session id that is not 32 bytes', () => {
    expect(() => buildServerFlight(Buffer.alloc(31), ascii('x'))).toThrow(
      'session id must be 32 bytes, got 31',
    );
  });
});

function judge(pieces: Buffer[]): { verdict: Verdict; detector: ClientHelloDetector } {
  const detector = new ClientHelloDetector();
  return { verdict: inspectPieces(detector, pieces), detector };
}

const mutate = (data: Buffer, at: number, value: number): Buffer => {
  const copy = Buffer.from(data);
  copy[at] = value;
  return copy;
};

describe('ClientHelloDetector (§3.4)', () => {
  const hello = buildClientHello(HOST, ascii('PAYLOAD')).packet;
  const accepted: Verdict = {
    kind: 'accept',
    payloadStart: 142,
    payloadEnd: 149,
    restStart: hello.length,
  };

  it('accepts our ClientHello and remembers its session id', () => {
    const { verdict, detector } = judge([hello]);
    expect(verdict).toEqual(accepted);
    expect(detector.sessionId!.equals(hello.subarray(44, 76))).toBe(true);
  });

  it('waits for the whole hello, so any split works (0.0.5 crashes between ticket and end)', () => {
    const cut = 142 + 7 + 5;
    expect(judge([hello.subarray(0, cut)]).verdict).toEqual({ kind: 'wait' });
    expect(judge([hello.subarray(0, cut), hello.subarray(cut)]).verdict).toEqual(accepted);
    expect(judge(byteByByte(hello)).verdict).toEqual(accepted);
    const random = seededRandom(5);
    for (let i = 0; i < 100; i++)
      expect(judge(randomChunks(hello, random, 30)).verdict).toEqual(accepted);
  });

  it('points restStart at records that follow in the same packet', () => {
    const withRecord = Buffer.concat([hello, recordHeader(2), ascii('hi')]);
    expect(judge([withRecord]).verdict).toEqual(accepted);
  });

  it('accepts an empty ticket and ignores SNI, cipher suites and the session id length', () => {
    const empty = buildClientHello(HOST, Buffer.alloc(0)).packet;
    expect(judge([empty]).verdict).toEqual({
      kind: 'accept',
      payloadStart: 142,
      payloadEnd: 142,
      restStart: empty.length,
    });
    expect(
      judge([buildClientHello(ascii('anything.invalid'), ascii('PAYLOAD')).packet]).verdict.kind,
    ).toBe('accept');
    expect(judge([mutate(hello, 43, 0)]).verdict).toEqual(accepted);
    expect(judge([mutate(hello, 80, 0)]).verdict).toEqual(accepted);
  });

  it.each([
    [0, 0x17, 'ClientHello record type (byte 0) is not 16'],
    [2, 0x03, 'ClientHello record version (byte 2) is not 01'],
    [5, 0x02, 'ClientHello handshake type (byte 5) is not 01'],
    [10, 0x02, 'ClientHello client version (byte 10) is not 03'],
    [139, 0x00, 'SessionTicket is not the first extension'],
  ])('rejects byte %i = %i', (at, value, reason) => {
    const bad = mutate(hello, at, value);
    expect(judge([bad]).verdict).toEqual({ kind: 'reject', reason });
    // Decided as soon as the byte arrives, not after the whole hello.
    expect(judge([bad.subarray(0, at === 139 ? 140 : at + 1)]).verdict).toEqual({
      kind: 'reject',
      reason,
    });
  });

  it('rejects a hello larger than the first packet (0.0.5 drops it silently)', () => {
    const big = buildClientHello(HOST, Buffer.alloc(16400), Date.now(), 20000).packet;
    expect(judge([big.subarray(0, 5)]).verdict).toEqual({
      kind: 'reject',
      reason: `ClientHello of ${big.length} bytes exceeds 16384`,
    });
    const fits = buildClientHello(HOST, Buffer.alloc(16000)).packet;
    expect(judge([fits]).verdict.kind).toBe('accept');
  });

  it('rejects a hello too short for a ticket, or whose ticket overruns it', () => {
    const short = Buffer.from(hello);
    short.writeUInt16BE(100, 3);
    expect(judge([short]).verdict).toEqual({
      kind: 'reject',
      reason: 'ClientHello of 105 bytes cannot carry a ticket',
    });
    const overrun = Buffer.from(hello);
    overrun.writeUInt16BE(200, 140);
    expect(judge([overrun]).verdict).toEqual({
      kind: 'reject',
      reason: 'SessionTicket runs past the end of the ClientHello',
    });
  });

  it('rejects a real TLS ClientHello and an HTTP request', () => {
    // Same fixed bytes as ours, but extensions start with server_name (00 00) at 138.
    const browserLike = Buffer.alloc(212);
    hex('16030100cf010000cb0303').copy(browserLike);
    expect(judge([browserLike]).verdict).toEqual({
      kind: 'reject',
      reason: 'SessionTicket is not the first extension',
    });
    expect(judge([ascii('GET / HTTP/1.1\r\n')]).verdict.kind).toBe('reject');
  });
});
