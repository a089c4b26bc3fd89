import { randomFillSync, randomInt } from 'node:crypto';

/**
 * CSPRNG helpers. simple-obfs draws keys, TLS randoms and session ids from C `rand()`, which
 * leaves fingerprints (§6, §10 row 11); we use the kernel CSPRNG instead. A connection needs
 * about 60 random bytes, so they come from a shared pool: one syscall per ~70 connections.
 */

const POOL_SIZE = 4096;
/** Requests larger than this bypass the pool so one big request cannot drain it. */
const DIRECT_THRESHOLD = 256;

const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let used = POOL_SIZE;

/** Fills `target[start, end)` with random bytes. */
export function fillRandom(target: Uint8Array, start = 0, end = target.length): void {
  const length = end - start;
  if (length <= 0) return;
  if (length > DIRECT_THRESHOLD) {
    randomFillSync(target, start, length);
    return;
  }
  if (used + length > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  // Every pool byte is handed out once, so no two connections share random material.
  pool.copy(target, start, used, used + length);
  used += length;
}

/** A new Buffer of `length` random bytes. */
export function randomBytes(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  fillRandom(out);
  return out;
}

/** A uniformly distributed integer in `[min, max)`, without modulo bias. */
export function randomIntBetween(min: number, max: number): number {
  return randomInt(min, max);
}
