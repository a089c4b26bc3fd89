/**
 * Seeded property tests: random payloads through our client and server sessions in both
 * directions under random, 1-byte and huge chunking, and hostile bytes that must only ever
 * produce a ProtocolError or a rejection, within the 16384-byte first-packet cap.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@sip003/sdk';
import { MAX_FIRST_PACKET, MAX_RECORD_PAYLOAD } from '../src/constants.ts';
import { buildClientHello } from '../src/tls/client.ts';
import { buildServerFlight } from '../src/tls/server.ts';
import { recordHeader } from '../src/tls/records.ts';
import {
  type CodecRunner,
  ascii,
  randomChunks,
  seededBytes,
  seededRandom,
  sessionOptions,
  startSession,
} from './helpers.ts';

const MODES = ['http', 'tls'] as const;
const FAILOVER = { host: '192.0.2.80', port: 80 };

/** App writes → client encode → wire (re-chunked) → server decode, and back the other way. */
function roundTrip(
  mode: 'http' | 'tls',
  up: Buffer[],
  down: Buffer[],
  rechunk: (wire: Buffer) => Buffer[],
): { server: Buffer; client: Buffer; c2s: Buffer; s2c: Buffer } {
  const client = startSession('client', sessionOptions({ obfs: mode }));
  const server = startSession(
    'server',
    sessionOptions({ obfs: mode, serverObfsHost: 'www.example.com', failover: FAILOVER }),
  );
  client.encode.write(...up).end();
  const c2s = client.encode.output;
  server.decode.write(...rechunk(c2s)).end();
  expect(server.ctx.redirects).toEqual([]);
  // Upstream answers only once it has been dialed, i.e. after the first decoded byte.
  server.encode.write(...(server.decode.pushes.length > 0 ? down : [])).end();
  const s2c = server.encode.output;
  client.decode.write(...rechunk(s2c)).end();
  return { server: server.decode.output, client: client.decode.output, c2s, s2c };
}

/** Checks the TLS framing of a whole stream after its first packet: records of <= 16384. */
function recordLengths(stream: Buffer, start: number): number[] {
  const lengths: number[] = [];
  for (let at = start; at < stream.length; at += 5 + stream.readUInt16BE(at + 3)) {
    expect(stream.toString('hex', at, at + 3)).toBe('170303');
    lengths.push(stream.readUInt16BE(at + 3));
  }
  return lengths;
}

describe.each(MODES)('round trips, %s', (mode) => {
  it('random payloads, random writes, random wire chunks (200 seeds)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      const up = seededBytes(random, 1 + Math.floor(random() * 40000));
      const down = seededBytes(random, 1 + Math.floor(random() * 40000));
      const result = roundTrip(
        mode,
        randomChunks(up, random, 9000),
        randomChunks(down, random, 9000),
        (wire) => randomChunks(wire, random, 1 + Math.floor(random() * 3000)),
      );
      expect(result.server.equals(up)).toBe(true);
      expect(result.client.equals(down)).toBe(true);
    }
  });

  it('1-byte writes delivered 1 byte at a time', () => {
    const random = seededRandom(42);
    const up = seededBytes(random, 3000);
    const down = seededBytes(random, 3000);
    const ones = (data: Buffer) => randomChunks(data, random, 1);
    const result = roundTrip(mode, ones(up), ones(down), ones);
    expect(result.server.equals(up)).toBe(true);
    expect(result.client.equals(down)).toBe(true);
  });

  it('1.5 MiB each way in large writes, with the first packet and records within 16384', () => {
    const random = seededRandom(7);
    const up = seededBytes(random, 1.5 * 1024 * 1024);
    const down = seededBytes(random, 1.5 * 1024 * 1024 + 17);
    const result = roundTrip(mode, randomChunks(up, random, 256 * 1024), [down], (wire) =>
      randomChunks(wire, random, 65536),
    );
    expect(result.server.equals(up)).toBe(true);
    expect(result.client.equals(down)).toBe(true);
    if (mode === 'tls') {
      const helloEnd = 5 + result.c2s.readUInt16BE(3);
      expect(helloEnd).toBeLessThanOrEqual(MAX_FIRST_PACKET);
      expect(Math.max(...recordLengths(result.c2s, helloEnd))).toBeLessThanOrEqual(
        MAX_RECORD_PAYLOAD,
      );
      const finished = result.s2c.readUInt16BE(105);
      expect(finished).toBe(MAX_RECORD_PAYLOAD);
      expect(Math.max(...recordLengths(result.s2c, 107 + finished))).toBe(MAX_RECORD_PAYLOAD);
    } else {
      expect(result.c2s.indexOf('\r\n\r\n')).toBeLessThan(MAX_FIRST_PACKET);
    }
  });

  it('an empty stream produces nothing and no error', () => {
    const result = roundTrip(mode, [], [], (wire) => [wire]);
    expect([
      result.c2s.length,
      result.s2c.length,
      result.server.length,
      result.client.length,
    ]).toEqual([0, 0, 0, 0]);
  });
});

/** Runs hostile input; only ProtocolError may escape. Returns the output and whether it threw. */
function hostile(
  run: CodecRunner,
  pieces: Buffer[],
  end = true,
): { output: Buffer; threw: boolean } {
  try {
    run.write(...pieces);
    if (end) run.end();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return { output: run.output, threw: true };
  }
  return { output: run.output, threw: false };
}

describe.each(MODES)('hostile input, %s', (mode) => {
  it('server: garbage is rejected to failover byte for byte, decided within 16384 bytes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      // Half the cases start like the real thing, so the detector has to look further.
      const prefix =
        random() < 0.5
          ? ascii(mode === 'http' ? 'GET / HTTP/1.1\r\n' : '\x16\x03\x01')
          : Buffer.alloc(0);
      const garbage = Buffer.concat([
        prefix,
        seededBytes(random, 1 + Math.floor(random() * 40000)),
      ]);
      const server = startSession('server', sessionOptions({ obfs: mode, failover: FAILOVER }));
      const result = hostile(server.decode, randomChunks(garbage, random, 5000), false);
      if (server.ctx.redirects.length === 0) {
        // Only possible while undecided, which the cap bounds.
        expect(garbage.length).toBeLessThan(MAX_FIRST_PACKET);
        expect(result.output.length).toBe(0);
        hostile(server.decode, [], true);
      }
      expect(server.ctx.redirects).toEqual([FAILOVER]);
      expect(server.decode.output.equals(garbage)).toBe(true);
    }
  });

  it('server: a mutated valid first packet is either accepted or forwarded unchanged', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      const valid = startSession('client', sessionOptions({ obfs: mode }));
      valid.encode.write(
        seededBytes(random, 1 + Math.floor(random() * 3000)),
        seededBytes(random, 100),
      );
      const wire = Buffer.from(valid.encode.output);
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
        wire[Math.floor(random() * Math.min(wire.length, 400))] = Math.floor(random() * 256);
      }
      const server = startSession(
        'server',
        sessionOptions({ obfs: mode, serverObfsHost: 'www.example.com', failover: FAILOVER }),
      );
      const result = hostile(server.decode, randomChunks(wire, random, 700));
      if (server.ctx.redirects.length > 0) expect(result.output.equals(wire)).toBe(true);
    }
  });

  it('client: garbage and mutated answers only ever raise ProtocolError', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seededRandom(seed);
      const answer =
        mode === 'tls'
          ? Buffer.concat([
              buildServerFlight(Buffer.alloc(32), seededBytes(random, 50)).packet,
              recordHeader(3),
              ascii('abc'),
            ])
          : ascii('HTTP/1.1 101 Switching Protocols\r\n\r\nabc');
      const input =
        random() < 0.3 ? seededBytes(random, Math.floor(random() * 20000)) : Buffer.from(answer);
      for (let flips = Math.floor(random() * 4); flips > 0; flips--) {
        input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
      const client = startSession('client', sessionOptions({ obfs: mode }));
      hostile(client.decode, randomChunks(input, random, 2000));
    }
  });
});

describe('hostile records after a valid ClientHello', () => {
  const hello = buildClientHello(ascii('www.example.com'), ascii('PAYLOAD')).packet;

  it.each([
    ['length 16385', '1703034001' + '00'.repeat(16)],
    ['length 0x8000', '1703038000' + '00'.repeat(16)],
    ['length 0xffff', '170303ffff' + '00'.repeat(16)],
    ['truncated header', '1703'],
    ['truncated payload', '1703030010' + 'aa'.repeat(8)],
  ])('%s: ProtocolError in a later packet, never another error', (_name, tail) => {
    const server = startSession('server', sessionOptions({ obfs: 'tls' }));
    server.decode.write(hello);
    expect(server.decode.output.toString()).toBe('PAYLOAD');
    expect(hostile(server.decode, [Buffer.from(tail, 'hex')]).threw).toBe(true);
    expect(server.decode.output.toString('latin1')).toBe(
      'PAYLOAD' + (tail.startsWith('1703030010') ? '\xaa'.repeat(8) : ''),
    );
  });
});
