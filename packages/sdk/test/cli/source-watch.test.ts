import { resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSourceChange, projectDir, watchSources } from '../../src/cli/source-watch.ts';
import { repoRoot } from '../helpers.ts';

describe('the watched files', () => {
  it('are the source files of the project folder, not node_modules, dot-folders or dist/', () => {
    const p = (path: string): string => path.split('/').join(sep);
    expect(isSourceChange(p('src/index.ts'), false)).toBe(true);
    expect(isSourceChange(p('package.json'), false)).toBe(true);
    expect(isSourceChange(p('src/notes.md'), false)).toBe(false);
    expect(isSourceChange(p('node_modules/x/index.js'), false)).toBe(false);
    expect(isSourceChange(p('.git/index'), false)).toBe(false);
    expect(isSourceChange(p('src/.index.ts.swp'), false)).toBe(false);
    expect(isSourceChange(p('dist/plugin'), false)).toBe(false);
    expect(isSourceChange(p('dist/plugin'), true)).toBe(true);
  });

  it("belong to the entry's project: the nearest folder with a package.json", () => {
    expect(projectDir(resolve(repoRoot, 'packages/noop-plugin/src/main.ts'))).toBe(
      resolve(repoRoot, 'packages/noop-plugin'),
    );
    expect(projectDir('/no-project-here/main.ts')).toBe('/no-project-here');
  });
});

describe('watchSources', () => {
  // Only Linux watches folder by folder; macOS and Windows watch the tree natively, with no limit.
  it.runIf(process.platform === 'linux')(
    'says once, not silently, when it leaves folders unwatched at its limit',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'sip003-watch-'));
      try {
        for (const dir of ['a', 'b', 'c', 'd']) await mkdir(join(root, dir));
        const limits: number[] = [];
        const watch = watchSources(root, false, () => undefined, {
          maxDirs: 2,
          onLimit: (max) => limits.push(max),
        });
        watch.close();
        expect(limits).toEqual([2]);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
  );
});
