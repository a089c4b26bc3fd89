import { describe, expect, it } from 'vitest';
import { fillRandom, randomBytes, randomIntBetween } from '../src/random.ts';

describe('random', () => {
  it('fills exactly the requested range, from the pool and directly', () => {
    for (const length of [1, 28, 32, 256, 257, 5000]) {
      const target = Buffer.alloc(length + 20, 0xaa);
      fillRandom(target, 10, 10 + length);
      expect(target.subarray(0, 10).every((b) => b === 0xaa)).toBe(true);
      expect(target.subarray(10 + length).every((b) => b === 0xaa)).toBe(true);
      if (length >= 32) expect(target.subarray(10, 10 + length).some((b) => b !== 0xaa)).toBe(true);
    }
  });

  it('never hands out the same pool bytes twice, across refills', () => {
    // 4096-byte pool: 1000 draws of 28 bytes cross several refills.
    const seen = new Set(Array.from({ length: 1000 }, () => randomBytes(28).toString('hex')));
    expect(seen.size).toBe(1000);
  });

  it('is roughly uniform (a stuck or biased source fails this)', () => {
    const counts = new Array<number>(256).fill(0);
    for (const byte of randomBytes(256 * 400)) counts[byte]!++;
    // Expected 400 per value; 6 sigma (6 * 20 = 120) is far outside chance.
    expect(Math.min(...counts)).toBeGreaterThan(280);
    expect(Math.max(...counts)).toBeLessThan(520);
  });

  it('draws integers in [min, max)', () => {
    const values = new Set(Array.from({ length: 500 }, () => randomIntBetween(1, 11)));
    expect([...values].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('ignores an empty range', () => {
    const target = Buffer.alloc(4, 1);
    fillRandom(target, 2, 2);
    expect([...target]).toEqual([1, 1, 1, 1]);
  });
});
