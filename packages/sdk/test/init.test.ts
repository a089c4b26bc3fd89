import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { bundle } from '../src/cli/bundle.ts';
import { main } from '../src/cli/main.ts';
import { repoRoot } from './helpers.ts';
import { linkWorkspaceModules, testProject, typecheckProject } from './plugin-project.ts';

async function init(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['init', ...argv], {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  });
  return { code, out, err };
}

/**
 * `sip003 init` writes a project that typechecks, passes its own tests, bundles and runs. Here the
 * project sees this workspace's built SDK (dist/, as a user's install would) through symlinks; CI
 * also runs it from the packed tarball outside the workspace with a real `npm install`.
 */
describe('sip003 init', () => {
  let root: string;
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(resolve(repoRoot, 'packages/sdk/dist/testing/index.js')))
      throw new Error('packages/sdk/dist is missing: run pnpm build first (pnpm test does)');
    root = await mkdtemp(join(tmpdir(), 'sip003-init-'));
    dir = join(root, 'pad-plugin');
  });
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('writes the project files, named after the folder', async () => {
    const { code, out } = await init([dir]);
    expect(code).toBe(0);
    expect(out[0]).toBe(
      `created pad-plugin in ${dir}: package.json, tsconfig.json, .gitignore, README.md, src/index.ts, src/main.ts, test/plugin.test.ts`,
    );
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    const { version } = JSON.parse(
      await readFile(resolve(repoRoot, 'packages/sdk/package.json'), 'utf8'),
    );
    expect(pkg).toMatchObject({
      name: 'pad-plugin',
      type: 'module',
      bin: { 'pad-plugin': './dist/pad-plugin' },
      dependencies: { '@sip003/sdk': `^${version}` },
    });
    expect(Object.keys(pkg.scripts)).toEqual(['test', 'typecheck', 'build', 'bundle']);
  });

  it('refuses a folder that is not empty, and a bad name, with exit 64', async () => {
    expect(await init([dir])).toMatchObject({
      code: 64,
      err: [`init: ${dir} exists and is not empty; give a new or empty folder`],
    });
    expect(await init([join(root, 'other'), '--name', 'My Plugin'])).toMatchObject({
      code: 64,
      err: [
        'init: --name: expected a lowercase npm package name (a-z, 0-9, - . _ ~), got "My Plugin"',
      ],
    });
    expect(await init([])).toMatchObject({ code: 64 });
    expect(existsSync(join(root, 'other'))).toBe(false);
  });

  it('takes --name and --sdk (a packed tarball, say)', async () => {
    const other = join(root, 'other');
    await mkdir(other);
    expect((await init([other, '--name', 'x-plugin', '--sdk', 'file:/tmp/sdk.tgz'])).code).toBe(0);
    const pkg = JSON.parse(await readFile(join(other, 'package.json'), 'utf8'));
    expect([pkg.name, pkg.dependencies['@sip003/sdk']]).toEqual(['x-plugin', 'file:/tmp/sdk.tgz']);
    expect(await readFile(join(other, 'src/index.ts'), 'utf8')).toContain("name: 'x-plugin'");
  });

  describe('the generated project', () => {
    beforeAll(async () => {
      // What `npm install` would give it: the SDK (its built dist/), vitest, typescript, types.
      await linkWorkspaceModules(dir);
    });

    it('typechecks with its own tsconfig', () => {
      const tsc = typecheckProject(join(dir, 'tsconfig.json'));
      expect(tsc.output).toBe('');
      expect(tsc.status).toBe(0);
    }, 60_000);

    it('passes its own tests', () => {
      const vitest = testProject(dir);
      expect(vitest.stdout).toMatch(/Tests\s+2 passed/);
      expect(vitest.status).toBe(0);
    }, 120_000);

    it('bundles into an executable that runs as a SIP003 pair', async () => {
      const result = await bundle({
        entry: join(dir, 'src/main.ts'),
        outfile: join(dir, 'dist/pad-plugin'),
      });
      expect(result.version).toBe('0.1.0');
      const out: string[] = [];
      const code = await main(['run', result.outfile, '--options', 'key=90', '--bytes', '4MiB'], {
        stdout: (l) => out.push(l),
        stderr: () => undefined,
      });
      expect(out.join('\n')).toMatch(/OK: 4194304 bytes went through the plugin pair/);
      expect(code).toBe(0);
    }, 60_000);
  });
});
