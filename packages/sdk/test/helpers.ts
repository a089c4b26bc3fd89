import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/sdk/test/helpers.ts). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/**
 * The captured simple-obfs vectors: SIP003_VECTORS_DIR, else ../shared/protocol/vectors beside
 * the repository (where CI puts shared/). Missing vectors fail the test, never skip it.
 */
export function vectorsDir(): string {
  const dir = process.env['SIP003_VECTORS_DIR'] ?? resolve(repoRoot, '../shared/protocol/vectors');
  if (!existsSync(resolve(dir, 'index.json'))) {
    throw new Error(
      `protocol vectors not found at ${dir}: put shared/ beside the repository or set SIP003_VECTORS_DIR`,
    );
  }
  return dir;
}

/** Collects log lines; `lines` is the captured output. */
export function logCollector(): { lines: string[]; sink: (line: string) => void } {
  const lines: string[] = [];
  return { lines, sink: (line) => lines.push(line) };
}
