import { constants, createDeflate, createInflate } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import type { Codec } from '../src/index.ts';
import { checkCodecSplits, runCodec, seededBytes } from '../src/testing/index.ts';

/** 2-byte length then payload, as a correct decoder must read it: buffering partial frames. */
function frameEncoder(): Codec {
  return {
    transform(chunk, push) {
      const header = Buffer.alloc(2);
      header.writeUInt16BE(chunk.length);
      push(header);
      push(chunk);
    },
  };
}

function frameDecoder(): Codec {
  let pending = Buffer.alloc(0);
  return {
    transform(chunk, push) {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        push(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
      }
    },
  };
}

/** The classic bug: assumes a header never straddles two reads. */
function naiveFrameDecoder(): Codec {
  let left = 0;
  return {
    transform(chunk, push) {
      while (chunk.length > 0) {
        if (left === 0) {
          left = chunk.readUInt16BE(0);
          chunk = chunk.subarray(2);
        }
        const take = chunk.subarray(0, left);
        left -= take.length;
        push(take);
        chunk = chunk.subarray(take.length);
      }
    },
  };
}

describe('checkCodecSplits', () => {
  const samples = [Buffer.alloc(0), Buffer.from('ab'), seededBytes(50, 2)];

  it('passes a codec pair that is correct under any split, counting its runs', async () => {
    const report = await checkCodecSplits(frameEncoder, frameDecoder, samples);
    // Per sample of n bytes and wire of w: max(1, w) + 1 decodes, then 2 runs per input cut
    // (n - 1 of them, plus 1-byte writes; an empty sample still gets the latter), plus the first
    // encode.
    const runs = (n: number, w: number): number => 1 + Math.max(1, w) + 1 + 2 * Math.max(1, n);
    expect(report.runs).toBe(runs(0, 0) + runs(2, 4) + runs(50, 52));
  });

  it('names the sample and the cut where a decoder breaks', async () => {
    await expect(checkCodecSplits(frameEncoder, naiveFrameDecoder, samples)).rejects.toThrow(
      /^checkCodecSplits: sample 1 \(2 bytes\), wire of 4 bytes cut at 1: /,
    );
  });

  it('names the cut where an encoder loses bytes written in pieces', async () => {
    // Forgets everything after its first write.
    const forgetful = (): Codec => {
      let done = false;
      return {
        transform(chunk, push) {
          if (!done) void frameEncoder().transform(chunk, push);
          done = true;
        },
      };
    };
    await expect(checkCodecSplits(forgetful, frameDecoder, samples)).rejects.toThrow(
      'checkCodecSplits: sample 1 (2 bytes) written in two pieces cut at 1, then decoded whole: decoded received 1 bytes',
    );
  });

  it('reports a codec error with the sample and the cut', async () => {
    // Decodes only a frame that arrives whole.
    const refusing = (): Codec => ({
      transform(chunk, push) {
        if (chunk.length < 6) throw new Error('short read');
        push(chunk.subarray(2));
      },
    });
    await expect(checkCodecSplits(frameEncoder, refusing, [Buffer.from('abcd')])).rejects.toThrow(
      'checkCodecSplits: sample 0 (4 bytes), wire of 6 bytes cut at 1: short read',
    );
  });

  it('takes Duplex streams: zlib with sync flush', async () => {
    const report = await checkCodecSplits(
      () => createDeflate({ flush: constants.Z_SYNC_FLUSH }),
      () => createInflate(),
      [Buffer.from('hello, hello, hello')],
    );
    expect(report.runs).toBeGreaterThan(20);
  });
});

describe('runCodec', () => {
  it('awaits each transform and the flush, and collects every push', async () => {
    const codec: Codec = {
      async transform(chunk, push) {
        await new Promise((r) => setImmediate(r));
        push(chunk.reverse());
      },
      flush(push) {
        push(Buffer.from('.'));
      },
    };
    const out = await runCodec(codec, [Buffer.from('ab'), new Uint8Array([0x63, 0x64])]);
    expect(out.toString()).toBe('badc.');
  });
});
