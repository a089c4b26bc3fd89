import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { bundle } from '../src/cli/bundle.ts';
import { main } from '../src/cli/main.ts';
import { repoRoot } from './helpers.ts';
import { linkWorkspaceModules, testProject, typecheckProject } from './plugin-project.ts';

/**
 * The README's guide, end to end: its code blocks become a new plugin package in a temporary
 * folder that sees only the SDK's public API; it must typecheck under the house's strict
 * settings, pass its own tests, bundle, and carry bytes as a real SIP003 pair.
 */
describe('the README guide: write, test, bundle and run a new plugin', () => {
  let dir: string;
  let files: Map<string, string>;

  beforeAll(async () => {
    const readme = await readFile(resolve(repoRoot, 'README.md'), 'utf8');
    files = new Map(
      [...readme.matchAll(/<!-- file: my-plugin\/(\S+) -->\n\n```ts\n(.*?)```/gs)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    dir = await mkdtemp(join(tmpdir(), 'sip003-guide-'));
    for (const [path, code] of files) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), code);
    }
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'xor-plugin', version: '1.0.0', type: 'module', private: true }),
    );
    const base = JSON.parse(await readFile(resolve(repoRoot, 'tsconfig.base.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { ...base.compilerOptions, noEmit: true },
        include: ['src', 'test'],
      }),
    );
    await writeFile(
      join(dir, 'vitest.config.mjs'),
      "export default { resolve: { conditions: ['@sip003/source'] }, ssr: { resolve: { conditions: ['@sip003/source'] } } };\n",
    );
    // What `npm install @sip003/sdk vitest typescript @types/node` would give it.
    await linkWorkspaceModules(dir);
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('has the three files of the guide', () => {
    expect([...files.keys()].sort()).toEqual([
      'src/index.ts',
      'src/main.ts',
      'test/plugin.test.ts',
    ]);
  });

  it('typechecks against the public API with the strict settings', () => {
    const tsc = typecheckProject(dir);
    expect(tsc.output).toBe('');
    expect(tsc.status).toBe(0);
  }, 60_000);

  it("passes the guide's own tests", () => {
    const vitest = testProject(dir);
    expect(vitest.stdout).toMatch(/Tests\s+2 passed/);
    expect(vitest.status).toBe(0);
  }, 120_000);

  it('bundles into one executable file that runs as a SIP003 pair (sip003 run)', async () => {
    const result = await bundle({
      entry: join(dir, 'src/main.ts'),
      outfile: join(dir, 'dist/xor-plugin'),
    });
    expect(result.version).toBe('1.0.0');
    const version = spawnSync(result.outfile, ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toBe('xor-plugin 1.0.0\n');
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['run', result.outfile, '--options', 'key=90', '--bytes', '4MiB'], {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
    });
    expect(out.join('\n')).toMatch(
      /OK: 4194304 bytes went through the plugin pair to the echo server and back intact/,
    );
    expect(code).toBe(0);
    expect(err.filter((l) => / (warn|error) /.test(l))).toEqual([]);
  }, 60_000);

  it('refuses a bad option with one line and exit 2', () => {
    const run = spawnSync(join(dir, 'dist/xor-plugin'), [], {
      encoding: 'utf8',
      env: {
        ...process.env,
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: '8388',
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: '1080',
        SS_PLUGIN_OPTIONS: 'key=300',
      },
    });
    expect(run.stderr).toBe('xor-plugin: key: expected an integer from 0 to 255, got "300"\n');
    expect(run.status).toBe(2);
  });
});
