import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@sip003/sdk';
import { MAX_FIRST_PACKET } from '../src/constants.ts';
import { CLIENT_HELLO_OVERHEAD, ServerFlightDecoder, buildClientHello } from '../src/tls/client.ts';
import { buildServerFlight } from '../src/tls/server.ts';
import { recordHeader } from '../src/tls/records.ts';
import { CodecRunner, ascii, byteByByte, hex, segmentations, splitAt } from './helpers.ts';

const HOST = ascii('www.example.com');

/** §3.1 written out for P = 5 (`hello`), H = 15 (`www.example.com`); `.` = clock or random. */
const WORKED_EXAMPLE =
  '16 0301 00e8' + // record: handshake, TLS 1.0, length 232
  '01 0000e4' + // ClientHello, length 228
  '0303' + // client version
  '........' + // gmt_unix_time
  '..'.repeat(28) + // random
  '20' + // session id length
  '..'.repeat(32) + // session id
  '0038 c02c c030 009f cca9 cca8 ccaa c02b c02f 009e c024 c028 006b c023 c027 0067 c00a' +
  'c014 0039 c009 c013 0033 009d 009c 003d 003c 0035 002f 00ff' +
  '0100' + // compression: null
  '0063' + // extensions length 99
  '0023 0005 68656c6c6f' + // SessionTicket carrying the payload
  '0000 0014 0012 00 000f 7777772e6578616d706c652e636f6d' + // server_name
  '000b 0004 03 01 00 02' + // ec_point_formats
  '000a 000a 0008 001d 0017 0019 0018' + // supported_groups
  '000d 0020 001e 0601 0602 0603 0501 0502 0503 0401 0402 0403 0301 0302 0303 0201 0202 0203' +
  '0016 0000 0017 0000'; // encrypt_then_mac, extended_master_secret

describe('buildClientHello (§3.1)', () => {
  it('matches the worked example byte for byte outside the clock and random fields', () => {
    const now = Date.UTC(2026, 10, 24, 19, 8, 1);
    const { packet, consumed } = buildClientHello(HOST, ascii('hello'), now);
    const pattern = WORKED_EXAMPLE.replaceAll(' ', '');
    expect(consumed).toBe(5);
    expect(packet.length).toBe(237);
    expect(pattern.length).toBe(2 * 237);
    const actual = packet.toString('hex');
    for (let i = 0; i < pattern.length; i++) {
      if (pattern[i] !== '.') expect([i >> 1, actual[i]]).toEqual([i >> 1, pattern[i]]);
    }
    expect(packet.readUInt32BE(11)).toBe(Math.floor(now / 1000));
  });

  it('computes every length from P and H', () => {
    for (const [p, host] of [
      [0, 'a'],
      [1, 'cloudfront.net'],
      [2048, 'www.bing.com'],
      [9000, 'x'.repeat(255)],
    ] as const) {
      const { packet } = buildClientHello(ascii(host), Buffer.alloc(p, 7));
      const h = host.length;
      expect(packet.length).toBe(217 + p + h);
      expect(packet.readUInt16BE(3)).toBe(212 + p + h);
      expect(packet.readUIntBE(6, 3)).toBe(208 + p + h);
      expect(packet.readUInt16BE(136)).toBe(79 + p + h);
      expect(packet.readUInt16BE(140)).toBe(p);
      expect(packet.subarray(142 + p + 9, 151 + p + h).toString()).toBe(host);
    }
    expect(CLIENT_HELLO_OVERHEAD).toBe(217);
  });

  it('uses fresh random and session id per hello', () => {
    const a = buildClientHello(HOST, ascii('x')).packet;
    const b = buildClientHello(HOST, ascii('x')).packet;
    expect(a.subarray(15, 43).equals(b.subarray(15, 43))).toBe(false);
    expect(a.subarray(44, 76).equals(b.subarray(44, 76))).toBe(false);
  });

  it('keeps the hello within 16384 bytes and reports what it consumed', () => {
    const { packet, consumed } = buildClientHello(HOST, Buffer.alloc(40000));
    expect(packet.length).toBe(MAX_FIRST_PACKET);
    expect(consumed).toBe(MAX_FIRST_PACKET - 217 - HOST.length);
  });

  it('refuses a host that cannot be an SNI', () => {
    expect(() => buildClientHello(Buffer.alloc(0), ascii('x'))).toThrow(RangeError);
    expect(() => buildClientHello(Buffer.alloc(256, 0x61), ascii('x'))).toThrow(
      'obfs-host must be 1 to 255 bytes for the SNI, got 256',
    );
  });
});

describe('ServerFlightDecoder (§3.5)', () => {
  const id = Buffer.alloc(32, 9);
  const flight = buildServerFlight(id, ascii('DATA')).packet;
  const more = Buffer.concat([recordHeader(4), ascii('MORE')]);
  const stream = Buffer.concat([flight, more]);

  it('passes the Finished payload on, then unwraps records', () => {
    expect(new CodecRunner(new ServerFlightDecoder()).write(stream).end().output.toString()).toBe(
      'DATAMORE',
    );
  });

  it.each([
    ['inside the ServerHello (0.0.5 aborts)', [50]],
    ['right after the prefix', [107]],
    ['inside the Finished payload', [109]],
    ['inside the next record header', [flight.length + 2]],
  ])('accepts a flight split %s', (_name, sizes) => {
    const run = new CodecRunner(new ServerFlightDecoder()).write(...splitAt(stream, sizes)).end();
    expect(run.output.toString()).toBe('DATAMORE');
  });

  it('accepts any segmentation', () => {
    for (const chunks of segmentations(stream, 11, 40)) {
      const run = new CodecRunner(new ServerFlightDecoder()).write(...chunks).end();
      expect(run.output.toString()).toBe('DATAMORE');
    }
  });

  it('accepts an empty Finished followed by records (0.0.5 aborts)', () => {
    const empty = buildServerFlight(id, Buffer.alloc(0)).packet;
    expect(empty.length).toBe(107);
    const run = new CodecRunner(new ServerFlightDecoder()).write(empty, more).end();
    expect(run.output.toString()).toBe('MORE');
  });

  it('reads only byte 0 and the Finished length, like 0.0.5', () => {
    const odd = Buffer.concat([hex('16'), Buffer.alloc(104, 0xee), hex('0004'), ascii('DATA')]);
    expect(new CodecRunner(new ServerFlightDecoder()).write(odd).end().output.toString()).toBe(
      'DATA',
    );
  });

  it.each([
    [
      'byte 0 is not 16',
      Buffer.concat([hex('17'), flight.subarray(1)]),
      'TLS server flight must start with 16, got 17',
    ],
    [
      'Finished longer than 16384',
      Buffer.concat([flight.subarray(0, 105), hex('4001')]),
      'TLS Finished length must be at most 16384, got 16385',
    ],
    [
      'a bad record after it',
      Buffer.concat([flight, hex('1503030002022800')]),
      'TLS record must start with 17 03 03, got 15 03 03',
    ],
    [
      'a record over 16384 after it',
      Buffer.concat([flight, hex('1703034001')]),
      'TLS record length must be at most 16384, got 16385',
    ],
  ])('throws ProtocolError on %s', (_name, input, message) => {
    expect(() => new CodecRunner(new ServerFlightDecoder()).write(input)).toThrow(ProtocolError);
    expect(() => new CodecRunner(new ServerFlightDecoder()).write(...byteByByte(input))).toThrow(
      message,
    );
  });

  it('throws ProtocolError when the stream ends inside the handshake, not when it is empty', () => {
    for (const cut of [1, 106, 107, 110]) {
      expect(() =>
        new CodecRunner(new ServerFlightDecoder()).write(flight.subarray(0, cut)).end(),
      ).toThrow(ProtocolError);
    }
    expect(() => new CodecRunner(new ServerFlightDecoder()).end()).not.toThrow();
    expect(() => new CodecRunner(new ServerFlightDecoder()).write(flight).end()).not.toThrow();
  });
});
