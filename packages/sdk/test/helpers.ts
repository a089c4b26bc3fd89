import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is packages/sdk/test/helpers.ts). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/**
 * The simple-obfs vectors captured from the C binaries, kept in the repository beside the
 * plugin they test (packages/obfs-http-plugin/test/vectors). Missing vectors fail the test.
 */
export function vectorsDir(): string {
  const dir = resolve(repoRoot, 'packages/obfs-http-plugin/test/vectors');
  if (!existsSync(resolve(dir, 'index.json')))
    throw new Error(`protocol vectors not found at ${dir}`);
  return dir;
}

/** Collects log lines; `lines` is the captured output. */
export function logCollector(): { lines: string[]; sink: (line: string) => void } {
  const lines: string[] = [];
  return { lines, sink: (line) => lines.push(line) };
}
