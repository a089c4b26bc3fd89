import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkTransfers,
  missingBinaries,
  socks5Connect,
  startShadowsocks,
} from '../src/testing/index.ts';
import { repoRoot } from './helpers.ts';

/**
 * What an outside user does, with npm and nothing of this workspace: the packages are packed from
 * a copy of the repository's files that has never been built (so `prepack` must build them), an
 * author installs the SDK tarball into a new project made by the README guide's own commands and
 * files, tests, bundles and runs it; an admin installs the obfs-http-plugin tarball globally and
 * runs it under ss-libev. The copy keeps these builds away from the dist/ folders that the other
 * test files execute while this one runs.
 */

const MiB = 1024 * 1024;
const missing = missingBinaries(['ss-local', 'ss-server', 'sha256sum']);

/** The environment of a user's shell: none of pnpm's npm_* variables leak into their npm. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_|^PNPM_|^VITEST|^NODE_OPTIONS$/i.test(key)) env[key] = value;
  }
  return { ...env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', ...extra };
}

function run(command: string, args: readonly string[], cwd: string, timeoutMs = 240_000) {
  const result: SpawnSyncReturns<string> = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: userEnv(),
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited ${String(result.status ?? result.signal)}:\n${output.slice(-4000)}`,
    );
  }
  return output;
}

/** The files git would put in a fresh clone, copied as they are in the working tree. */
function copyRepository(to: string): void {
  const listed = run(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    repoRoot,
  );
  for (const file of listed.split('\0')) {
    if (file === '') continue;
    const from = join(repoRoot, file);
    if (!statSync(from, { throwIfNoEntry: false })?.isFile()) continue; // deleted in the work tree
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(from, join(to, file));
  }
}

function tarballFiles(tarball: string): string[] {
  return run('tar', ['tzf', tarball], dirname(tarball))
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .map((l) => l.replace(/^package\//, ''))
    .sort();
}

function duKiB(path: string): number {
  return Number(run('du', ['-sk', path], dirname(path)).split('\t')[0]);
}

/** The README guide: its setup commands and its files. */
function guide(): { setup: string; files: Map<string, string> } {
  const readme = readFileSync(resolve(repoRoot, 'README.md'), 'utf8');
  const setup = /<!-- guide: setup -->\n\n```sh\n(.*?)```/s.exec(readme)?.[1];
  if (setup === undefined) throw new Error('README.md has no <!-- guide: setup --> block');
  const files = new Map(
    [...readme.matchAll(/<!-- file: my-plugin\/(\S+) -->\n\n```(?:ts|json)\n(.*?)```/gs)].map(
      (m) => [m[1]!, m[2]!],
    ),
  );
  return { setup, files };
}

describe('the packages, installed with npm outside the workspace', () => {
  let tmp: string;
  let sdkTarball: string;
  let obfsTarball: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sip003-packaging-'));
    const clone = join(tmp, 'clone');
    copyRepository(clone);
    // Offline: CI's own `pnpm install` has just filled the store with every locked package.
    run('pnpm', ['install', '--frozen-lockfile', '--offline'], clone);
    const out = join(tmp, 'tarballs');
    run('pnpm', ['pack', '--pack-destination', out], join(clone, 'packages/sdk'));
    run('pnpm', ['pack', '--pack-destination', out], join(clone, 'packages/obfs-http-plugin'));
    const tarballs = readdirSync(out);
    sdkTarball = join(out, tarballs.find((f) => f.startsWith('sip003-sdk-')) ?? 'missing-sdk');
    obfsTarball = join(
      out,
      tarballs.find((f) => f.startsWith('sip003-obfs-http-plugin-')) ?? 'missing-obfs',
    );
  }, 300_000);
  afterAll(() => {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('packs the SDK with its built dist/, README and LICENSE', () => {
    const files = tarballFiles(sdkTarball);
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/sip003.js',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
      ]),
    );
    console.info(
      `sdk tarball: ${(statSync(sdkTarball).size / 1024).toFixed(1)} KiB, ${files.length} files`,
    );
  });

  it('packs obfs-http-plugin as its bundle alone, with no runtime dependency', () => {
    expect(tarballFiles(obfsTarball)).toEqual([
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'dist/obfs-http-plugin',
      'dist/package.json',
      'package.json',
    ]);
    const manifest = JSON.parse(
      run('tar', ['xzf', obfsTarball, '-O', 'package/package.json'], tmp),
    ) as Record<string, unknown>;
    expect(manifest['dependencies']).toBeUndefined();
    expect(manifest['exports']).toBeUndefined();
    expect(manifest['bin']).toEqual({ 'obfs-http-plugin': './dist/obfs-http-plugin' });
    console.info(`obfs-http-plugin tarball: ${(statSync(obfsTarball).size / 1024).toFixed(1)} KiB`);
  });

  describe('an author following the README guide', () => {
    let project: string;

    beforeAll(() => {
      const { setup, files } = guide();
      // The guide's own commands, with the tarball in place of the registry name.
      const script = setup.replace(/^npm install @sip003\/sdk$/m, `npm install ${sdkTarball}`);
      expect(script).toContain(sdkTarball);
      run('sh', ['-ec', script], tmp, 300_000);
      project = join(tmp, 'my-plugin');
      for (const [path, code] of files) {
        mkdirSync(dirname(join(project, path)), { recursive: true });
        writeFileSync(join(project, path), code);
      }
      const installed = duKiB(join(project, 'node_modules/@sip003/sdk'));
      console.info(
        `author's node_modules: ${duKiB(join(project, 'node_modules'))} KiB (the SDK itself ${installed} KiB)`,
      );
    }, 300_000);

    it('has every file of the guide, tsconfig.json included', () => {
      expect(readdirSync(project).sort()).toEqual(
        expect.arrayContaining(['package.json', 'tsconfig.json', 'src', 'test', 'node_modules']),
      );
    });

    it('typechecks with the guide tsconfig (npx tsc)', () => {
      expect(run('npx', ['tsc'], project)).toBe('');
    }, 120_000);

    it("passes the guide's tests (npx vitest run)", () => {
      expect(run('npx', ['vitest', 'run'], project)).toMatch(/Tests\s+2 passed/);
    }, 180_000);

    it('bundles a plain executable that runs as a pair (npx sip003 bundle, npx sip003 run)', () => {
      run('npx', ['sip003', 'bundle', 'src/main.ts', '-o', 'dist/xor-plugin'], project);
      expect(run(join(project, 'dist/xor-plugin'), ['--version'], project)).toBe(
        'xor-plugin 1.0.0\n',
      );
      const out = run(
        'npx',
        ['sip003', 'run', 'dist/xor-plugin', '--options', 'key=90', '--bytes', '4MiB'],
        project,
      );
      expect(out).toMatch(
        /OK: 4194304 bytes went through the plugin pair to the echo server and back intact/,
      );
    }, 120_000);

    it('bundles a standalone executable whose checksum file checks from its folder', () => {
      run(
        'npx',
        ['sip003', 'bundle', 'src/main.ts', '-o', 'dist/bin/xor-plugin', '--standalone'],
        project,
      );
      expect(run('sha256sum', ['-c', 'xor-plugin.sha256'], join(project, 'dist/bin'))).toBe(
        'xor-plugin: OK\n',
      );
      const out = run(
        'npx',
        ['sip003', 'run', 'dist/bin/xor-plugin', '--options', 'key=90', '--bytes', '4MiB'],
        project,
      );
      expect(out).toMatch(/OK: 4194304 bytes went through the plugin pair/);
    }, 300_000);
  });

  describe('an author starting from `sip003 init`', () => {
    let project: string;

    beforeAll(() => {
      // The SDK's own bin from the tarball, as `npx @sip003/sdk init` would run it.
      const cli = join(tmp, 'cli');
      mkdirSync(cli);
      run('npm', ['install', '--no-save', sdkTarball], cli, 300_000);
      project = join(tmp, 'p');
      run(
        join(cli, 'node_modules/.bin/sip003'),
        ['init', project, '--sdk', `file:${sdkTarball}`],
        tmp,
      );
      run('npm', ['install'], project, 300_000);
    }, 600_000);

    it('passes its own tests and typechecks (npm test, npm run typecheck)', () => {
      expect(run('npm', ['test'], project)).toMatch(/Tests\s+\d+ passed/);
      run('npm', ['run', 'typecheck'], project);
    }, 180_000);

    it('builds an executable that runs as a pair (npm run build, npx sip003 run)', () => {
      run('npm', ['run', 'build'], project);
      const out = run('npx', ['sip003', 'run', 'dist/p', '--bytes', '4MiB'], project);
      expect(out).toMatch(/OK: 4194304 bytes went through the plugin pair/);
    }, 120_000);

    it('runs its TypeScript entry as it is, through tsx (npx sip003 run src/main.ts)', () => {
      const out = run('npx', ['sip003', 'run', 'src/main.ts', '--bytes', '4MiB'], project);
      expect(out).toMatch(/OK: 4194304 bytes went through the plugin pair/);
      expect(out).toMatch(/stopped plugins: server exit 0, client exit 0/);
    }, 120_000);

    it('says in one line to install tsx when neither the project nor the SDK has it', () => {
      // The SDK installed alone (tsx is an optional peer, so npm leaves it out), and a .ts entry
      // in a folder with no node_modules above it.
      const bare = join(tmp, 'no-tsx');
      mkdirSync(bare);
      writeFileSync(join(bare, 'main.ts'), 'console.log(1);\n');
      const result = spawnSync(
        join(tmp, 'cli/node_modules/.bin/sip003'),
        ['run', join(bare, 'main.ts')],
        { cwd: bare, encoding: 'utf8', env: userEnv(), timeout: 60_000 },
      );
      expect([result.status, result.stderr]).toEqual([
        64,
        'sip003 run: client plugin: install tsx: npm install --save-dev tsx\n',
      ]);
    }, 60_000);
  });

  describe.skipIf(missing.length > 0)('an admin installing obfs-http-plugin globally', () => {
    let prefix: string;
    let bin: string;

    beforeAll(() => {
      prefix = join(tmp, 'global');
      run('npm', ['install', '-g', '--prefix', prefix, obfsTarball], tmp);
      bin = join(prefix, 'bin/obfs-http-plugin');
    }, 180_000);

    it('puts obfs-http-plugin on PATH and pulls nothing else', () => {
      expect(run(bin, ['--version'], tmp)).toMatch(/^obfs-http-plugin \d+\.\d+\.\d+/);
      const modules = join(prefix, 'lib/node_modules');
      expect(readdirSync(modules)).toEqual(['@sip003']);
      expect(readdirSync(join(modules, '@sip003'))).toEqual(['obfs-http-plugin']);
      const size = duKiB(modules);
      console.info(`global install of obfs-http-plugin: ${size} KiB`);
      expect(size).toBeLessThan(2048);
    });

    it('runs under ss-local/ss-server and moves 16 MiB each way, sha256-checked', async () => {
      const ss = await startShadowsocks({
        clientPlugin: bin,
        clientPluginOptions: 'obfs=http',
        serverPlugin: bin,
        serverPluginOptions: 'server;obfs=http',
      });
      try {
        const report = await checkTransfers(
          (t) => socks5Connect(ss.socksPort, t.host, t.port),
          16 * MiB,
        );
        expect(report.download.bytes).toBe(16 * MiB);
        expect(ss.local.output() + ss.server.output()).not.toMatch(/obfs-http-plugin (error|warn)/);
      } finally {
        await ss.close();
      }
    }, 120_000);
  });
});
