import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@sip003/sdk';
import { checkCodecSplits } from '@sip003/sdk/testing';
import { RecordDecoder, pushRecords, recordHeader } from '../src/tls/records.ts';
import {
  CodecRunner,
  ascii,
  byteByByte,
  hex,
  segmentations,
  seededBytes,
  seededRandom,
} from './helpers.ts';

const record = (payload: Buffer): Buffer => Buffer.concat([recordHeader(payload.length), payload]);

function encode(data: Buffer): Buffer[] {
  const pushes: Buffer[] = [];
  pushRecords(data, (piece) =>
    pushes.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)),
  );
  return pushes;
}

describe('pushRecords (§3.3)', () => {
  it('wraps a small chunk in one 17 03 03 record, header and payload pushed separately', () => {
    const data = ascii('hello');
    const pushes = encode(data);
    expect(pushes.map((p) => p.toString('hex'))).toEqual(['1703030005', '68656c6c6f']);
    // The payload push is a view of the input, not a copy.
    expect(pushes[1]!.buffer).toBe(data.buffer);
  });

  it('splits at 16384 payload bytes', () => {
    const pushes = encode(Buffer.alloc(16384 * 2 + 3));
    expect(pushes.map((p) => p.length)).toEqual([5, 16384, 5, 16384, 5, 3]);
    const headers = [pushes[0], pushes[2], pushes[4]].map((p) => p!.toString('hex'));
    expect(headers).toEqual(['1703034000', '1703034000', '1703030003']);
  });

  it('emits nothing for an empty chunk', () => {
    expect(encode(Buffer.alloc(0))).toEqual([]);
  });
});

describe('RecordDecoder (§3.4 step 6)', () => {
  const stream = Buffer.concat([
    record(ascii('REC1')),
    record(Buffer.alloc(0)),
    record(ascii('Z')),
    record(ascii('REC2')),
  ]);

  it('unwraps records, skipping zero-length ones', () => {
    expect(new CodecRunner(new RecordDecoder()).write(stream).end().output.toString()).toBe(
      'REC1ZREC2',
    );
  });

  it('survives any split, byte by byte included', () => {
    for (const chunks of segmentations(stream, 3, 7)) {
      const run = new CodecRunner(new RecordDecoder()).write(...chunks).end();
      expect(run.output.toString()).toBe('REC1ZREC2');
    }
  });

  it('pushes payloads of 256 bytes and more as views of the input, tiny ones as one copy per read', () => {
    const big = seededBytes(seededRandom(3), 300);
    const last = seededBytes(seededRandom(4), 400);
    const tiny = Array.from({ length: 1000 }, (_, i) => record(Buffer.from([i & 0xff])));
    const input = Buffer.concat([record(big), ...tiny, record(last)]);
    const run = new CodecRunner(new RecordDecoder()).write(input);
    // A peer sending 1-byte records must not cost one object per record (issue 9).
    expect(run.pushes).toHaveLength(3);
    expect(run.pushes[0]!.buffer).toBe(input.buffer);
    expect(run.pushes[1]!.buffer).not.toBe(input.buffer);
    expect(run.pushes[2]!.buffer).toBe(input.buffer);
    expect(run.output).toEqual(
      Buffer.concat([big, Buffer.from(tiny.map((_, i) => i & 0xff)), last]),
    );
  });

  it('round-trips with pushRecords under every split of the wire and of the writes (checkCodecSplits)', async () => {
    const report = await checkCodecSplits(
      () => ({ transform: pushRecords }),
      () => new RecordDecoder(),
      [Buffer.alloc(0), ascii('x'), seededBytes(seededRandom(5), 600)],
    );
    expect(report.runs).toBeGreaterThan(1200);
  });

  it('accepts exactly 16384 bytes', () => {
    const payload = seededBytes(seededRandom(1), 16384);
    expect(
      new CodecRunner(new RecordDecoder()).write(record(payload)).end().output.equals(payload),
    ).toBe(true);
  });

  it.each([
    ['length 16385', '1703034001', 'TLS record length must be at most 16384, got 16385'],
    [
      'length 0x8000 (crashes 0.0.5)',
      '1703038000',
      'TLS record length must be at most 16384, got 32768',
    ],
    [
      'length 0xffff (crashes 0.0.5)',
      '170303ffff',
      'TLS record length must be at most 16384, got 65535',
    ],
    ['handshake type', '1603030003', 'TLS record must start with 17 03 03, got 16 03 03'],
    ['version 03 01', '1703010003', 'TLS record must start with 17 03 03, got 17 03 01'],
    ['raw text', '5241574441', 'TLS record must start with 17 03 03, got 52 41 57'],
  ])('throws ProtocolError on %s', (_name, header, message) => {
    const run = new CodecRunner(new RecordDecoder()).write(record(ascii('ok')));
    expect(() => run.write(hex(header + '00'.repeat(64)))).toThrow(ProtocolError);
    expect(() => new CodecRunner(new RecordDecoder()).write(...byteByByte(hex(header)))).toThrow(
      message,
    );
    expect(run.output.toString()).toBe('ok');
  });

  it('throws ProtocolError when the stream ends inside a record', () => {
    expect(() => new CodecRunner(new RecordDecoder()).write(hex('170303')).end()).toThrow(
      'TLS record truncated: stream ended inside a record header',
    );
    expect(() =>
      new CodecRunner(new RecordDecoder()).write(hex('1703030004'), ascii('ab')).end(),
    ).toThrow('TLS record truncated: stream ended 2 bytes before the end of a record');
    expect(() => new CodecRunner(new RecordDecoder()).write(stream).end()).not.toThrow();
  });
});
