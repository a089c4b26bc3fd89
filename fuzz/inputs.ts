/**
 * Input generators shared by the fuzz targets: bytes that are mostly almost-valid (a real frame
 * with a few mutations reaches the deep states of a parser; pure noise stops at its first check),
 * plus pure noise, plus the ways to cut one input into reads.
 */
import fc from 'fast-check';
import { seededBytes } from '../packages/sdk/src/testing/index.ts';
import {
  byteByByte,
  randomChunks,
  seededRandom,
} from '../packages/obfs-http-plugin/test/helpers.ts';

/** One edit of a byte string. Positions are taken modulo the length, so every edit applies. */
type Edit =
  | { readonly kind: 'set'; readonly at: number; readonly byte: number }
  | { readonly kind: 'u16'; readonly at: number; readonly value: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'truncate'; readonly at: number };

/**
 * Edits at any position, or half the time at one of `hotspots`: the offsets of the fields a
 * parser decides on (length fields, fixed bytes), which a uniform position rarely hits.
 */
function edits(hotspots: readonly number[]): fc.Arbitrary<Edit> {
  const at = hotspots.length === 0 ? fc.nat() : fc.oneof(fc.nat(), fc.constantFrom(...hotspots));
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('set'), at, byte: fc.nat(255) }),
    },
    {
      weight: 2,
      // Length fields are u16: the edges and off-by-ones matter more than the middle.
      arbitrary: fc.record({
        kind: fc.constant('u16'),
        at,
        value: fc.oneof(
          fc.constantFrom(0, 1, 2, 4, 5, 0x3fff, 0x4000, 0x4001, 0x7fff, 0x8000, 0xffff),
          fc.nat(0xffff),
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('insert'),
        at: fc.nat(),
        bytes: fc.uint8Array({ maxLength: 16 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('delete'),
        at: fc.nat(),
        length: fc.integer({ min: 1, max: 16 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate'), at }) },
  );
}

function apply(base: Buffer, list: readonly Edit[]): Buffer {
  let out = Buffer.from(base);
  for (const e of list) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    switch (e.kind) {
      case 'set':
        if (out.length > 0) out[at] = e.byte;
        break;
      case 'u16':
        if (out.length >= 2) out.writeUInt16BE(e.value, Math.min(at, out.length - 2));
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), e.bytes, out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + e.length)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}

/** `base`, unchanged about a third of the time, else with one to four edits. */
export function mutated(
  base: fc.Arbitrary<Buffer>,
  hotspots: readonly number[] = [],
): fc.Arbitrary<Buffer> {
  const edit = edits(hotspots);
  return fc
    .tuple(
      base,
      fc.oneof(
        { weight: 1, arbitrary: fc.constant([]) },
        { weight: 2, arbitrary: fc.array(edit, { minLength: 1, maxLength: 4 }) },
      ),
    )
    .map(([b, list]) => apply(b, list));
}

/**
 * `min` to `max` bytes drawn from a seed, for the rare large input: fast-check draws a byte array
 * one element at a time, which for 16 KiB costs more than running the parser on it.
 */
export function bulk(min: number, max: number): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.integer({ min, max }), fc.nat()).map(([n, seed]) => seededBytes(n, seed));
}

/** Arbitrary bytes, short ones far more often than long ones. */
export const noise: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 16, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: bulk(65, 20_000) },
);

/** Payload bytes for frames; sometimes empty, rarely about a record's 16384 bytes. */
export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 60, arbitrary: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: bulk(16_000, 16_400) },
);

/** How to cut an input into reads: a seed for the random cuts and the largest piece. */
export interface Split {
  readonly seed: number;
  readonly max: number;
}
export const split: fc.Arbitrary<Split> = fc.record({
  seed: fc.nat(),
  max: fc.constantFrom(1, 2, 3, 7, 64, 1000),
});

/**
 * The segmentations every input is checked under besides the whole: byte by byte and one random
 * cut for inputs of up to 512 bytes; larger ones (rare) get one random cut into at most about 64
 * pieces, so a 16 KiB input does not cost 16k reads per run. Unit tests cut large inputs finer.
 */
export function cuts(input: Buffer, { seed, max }: Split): Buffer[][] {
  if (input.length > 512) {
    return [randomChunks(input, seededRandom(seed), Math.max(max, input.length >> 6))];
  }
  return [byteByByte(input), randomChunks(input, seededRandom(seed), max)];
}
