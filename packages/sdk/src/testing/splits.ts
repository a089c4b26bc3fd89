import type { Duplex } from 'node:stream';
import { isDuplex, type Codec } from '../codec.ts';
import { compose } from '../codecs/compose.ts';
import { describeDifference } from './compare.ts';

/**
 * Runs a codec over `chunks` without sockets, as the relay would (each `transform` call awaited
 * before the next, then `flush`), and returns everything it pushed. A Duplex (a zlib stream, say)
 * is written and ended the same way.
 */
export async function runCodec(
  codec: Codec | Duplex,
  chunks: Iterable<Uint8Array>,
): Promise<Buffer> {
  const run = isDuplex(codec) ? compose(codec) : codec;
  const out: Uint8Array[] = [];
  const push = (data: Uint8Array): void => {
    if (data.byteLength > 0) out.push(data);
  };
  for (const chunk of chunks) {
    if (chunk.byteLength === 0) continue;
    const buffer = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const result = run.transform(buffer, push);
    if (result !== undefined) await result;
  }
  const flushed = run.flush?.(push);
  if (flushed !== undefined) await flushed;
  return Buffer.concat(out);
}

export interface CodecSplitsReport {
  /** Codec runs made (each one a fresh codec from its factory). */
  runs: number;
}

/** `data` cut at `at`, or in 1-byte pieces when `at` is undefined. */
function split(data: Buffer, at: number | undefined): Buffer[] {
  if (at !== undefined) return [data.subarray(0, at), data.subarray(at)];
  return Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}

/**
 * Checks a codec pair on every split of each sample, without sockets. For each sample: the
 * encoded sample (one write) must decode to the sample whether the wire bytes arrive whole, cut at
 * any single position, or one byte at a time; and the sample written in two pieces (cut at any
 * position) or one byte at a time must encode to bytes that decode to it. `encode` and `decode`
 * make a fresh codec (or Duplex) per run, as a session does per connection. The runs grow with the
 * square of a sample's length: keep samples to a few KiB. Throws on the first failure with one
 * line naming the sample and the split; resolves with the number of runs.
 */
export async function checkCodecSplits(
  encode: () => Codec | Duplex,
  decode: () => Codec | Duplex,
  samples: readonly Uint8Array[],
): Promise<CodecSplitsReport> {
  let runs = 0;
  const attempt = async (
    where: () => string,
    codec: () => Codec | Duplex,
    chunks: Buffer[],
  ): Promise<Buffer> => {
    runs++;
    try {
      return await runCodec(codec(), chunks);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`checkCodecSplits: ${where()}: ${reason}`, { cause: error });
    }
  };
  const expectSample = (where: () => string, got: Buffer, want: Buffer): void => {
    const difference = describeDifference(got, want);
    if (difference !== undefined)
      throw new Error(`checkCodecSplits: ${where()}: decoded ${difference}`);
  };

  for (const [index, raw] of samples.entries()) {
    const sample = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const name = `sample ${index} (${sample.length} bytes)`;
    const wire = await attempt(() => `${name}, encoding it whole`, encode, [sample]);
    // Cut 0 is the wire whole.
    const wireCuts = [...Array.from({ length: Math.max(1, wire.length) }, (_, i) => i), undefined];
    for (const at of wireCuts) {
      const how = at === undefined ? 'in 1-byte chunks' : at === 0 ? 'whole' : `cut at ${at}`;
      const where = (): string => `${name}, wire of ${wire.length} bytes ${how}`;
      expectSample(where, await attempt(where, decode, split(wire, at)), sample);
    }
    const inputCuts = [...Array.from({ length: sample.length - 1 }, (_, i) => i + 1), undefined];
    for (const at of inputCuts) {
      const where = (): string =>
        `${name} ${at === undefined ? 'in 1-byte writes' : `written in two pieces cut at ${at}`}, then decoded whole`;
      const encoded = await attempt(where, encode, split(sample, at));
      expectSample(where, await attempt(where, decode, [encoded]), sample);
    }
  }
  return { runs };
}
