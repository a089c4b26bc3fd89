import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';

const bundle = resolve(fileURLToPath(new URL('.', import.meta.url)), '../dist/noop-plugin');
const KiB = 1024;

describe('the noop-plugin bundle (dist/noop-plugin, made by pnpm build)', () => {
  // The SDK's own weight: 801 KiB while the options engine was the classic zod namespace, which
  // carries every locale and the JSON-schema code whatever a plugin uses.
  it('stays at or under 250 KiB', () => {
    const { size } = statSync(bundle, { throwIfNoEntry: false }) ?? { size: -1 };
    expect(size, `${bundle} is missing: run pnpm build`).toBeGreaterThan(0);
    expect(size, `${(size / KiB).toFixed(1)} KiB`).toBeLessThanOrEqual(250 * KiB);
  });

  it('carries no zod locale', () => {
    expect(readFileSync(bundle, 'utf8')).not.toMatch(/zod\/v4\/locales\//);
  });
});
