import { describe, it, expect } from 'vitest';
import type { Push } from '../src/index.ts';
import { lengthPrefixed } from '../src/codecs/index.ts';
import { checkCodecSplits, runCodec, seededBytes } from '../src/testing/index.ts';

const samples = [Buffer.alloc(0), Buffer.from('x'), seededBytes(300, 4)];

describe('lengthPrefixed', () => {
  for (const headerBytes of [1, 2, 4] as const) {
    it(`round-trips under every split with a ${headerBytes}-byte header and small frames`, async () => {
      const report = await checkCodecSplits(
        () => lengthPrefixed({ headerBytes, maxFrame: 7 }).encode,
        () => lengthPrefixed({ headerBytes, maxFrame: 7 }).decode,
        samples,
      );
      expect(report.runs).toBeGreaterThan(600);
    });
  }

  it('writes a big-endian length then the payload, splitting writes longer than maxFrame', async () => {
    const { encode } = lengthPrefixed({ maxFrame: 2 });
    expect((await runCodec(encode, [Buffer.from('hello')])).toString('hex')).toBe(
      `0002${Buffer.from('he').toString('hex')}0002${Buffer.from('ll').toString('hex')}0001${Buffer.from('o').toString('hex')}`,
    );
    const four = lengthPrefixed({ headerBytes: 4 }).encode;
    expect((await runCodec(four, [Buffer.from('hi')])).toString('hex')).toBe('000000026869');
  });

  it('pushes header and payload separately, the payload as a view of the input', () => {
    const { encode } = lengthPrefixed();
    const input = Buffer.alloc(5, 'hello');
    const pushed: Uint8Array[] = [];
    expect(encode.transform(input, (d) => pushed.push(d))).toBeUndefined();
    expect(pushed.map((d) => Buffer.from(d).toString('hex'))).toEqual([
      '0005',
      input.toString('hex'),
    ]);
    expect(pushed[1]!.buffer).toBe(input.buffer);
  });

  it('decodes many frames of one chunk without holding more than one frame, payloads as views', () => {
    const { decode } = lengthPrefixed({ headerBytes: 1, maxFrame: 3 });
    const wire = Buffer.alloc(4000);
    for (let i = 0; i < 1000; i++) wire.set([3, i & 0xff, 1, 2], i * 4);
    const payloads: Uint8Array[] = [];
    const push: Push = (d) => payloads.push(d);
    expect(decode.transform(wire, push)).toBeUndefined();
    void decode.flush?.(push);
    expect(payloads).toHaveLength(1000);
    expect(Buffer.from(payloads[999]!)).toEqual(Buffer.from([999 & 0xff, 1, 2]));
    expect(payloads[5]!.buffer).toBe(wire.buffer);
  });

  it('accepts empty frames and rejects a frame longer than maxFrame before buffering it', async () => {
    const empty = lengthPrefixed().decode;
    expect(await runCodec(empty, [Buffer.from([0, 0, 0, 1, 0x41, 0, 0])])).toEqual(
      Buffer.from('A'),
    );
    const { decode } = lengthPrefixed({ maxFrame: 1000 });
    expect(() => decode.transform(Buffer.from([0x03, 0xe9]), () => undefined)).toThrow(
      expect.objectContaining({
        code: 'SIP003_PROTOCOL',
        message: 'length-prefixed frame: 1001 bytes announced, at most 1000 allowed',
      }),
    );
  });

  it('refuses a stream that ends inside a frame or its header', async () => {
    await expect(runCodec(lengthPrefixed().decode, [Buffer.from([0, 5, 1, 2])])).rejects.toThrow(
      'length-prefixed frame: the stream ended inside a frame (2 of 5 bytes)',
    );
    await expect(
      runCodec(lengthPrefixed({ headerBytes: 4 }).decode, [Buffer.from([0, 0])]),
    ).rejects.toThrow(
      'length-prefixed frame: the stream ended inside a frame header (2 of 4 bytes)',
    );
  });

  it('checks its options', () => {
    expect(() => lengthPrefixed({ headerBytes: 3 as never })).toThrow(
      'lengthPrefixed: headerBytes must be 1, 2 or 4, got 3',
    );
    expect(() => lengthPrefixed({ headerBytes: 1, maxFrame: 256 })).toThrow(
      'lengthPrefixed: maxFrame must be an integer from 1 to 255 for a 1-byte header, got 256',
    );
  });
});
