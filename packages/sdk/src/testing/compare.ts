import { sha256 } from './servers.ts';

/**
 * Undefined when `got` equals `want`, else one line for a failure message: both lengths, short
 * hashes, and the first byte that differs.
 */
export function describeDifference(got: Uint8Array, want: Uint8Array): string | undefined {
  if (Buffer.compare(got, want) === 0) return undefined;
  let at = 0;
  while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
  return `received ${got.length} bytes (sha256 ${sha256(got).slice(0, 12)}), expected ${want.length} (sha256 ${sha256(want).slice(0, 12)}); first difference at byte ${at}`;
}
