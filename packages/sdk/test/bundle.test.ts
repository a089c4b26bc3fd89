import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  bundle,
  bundleCommand,
  formatBytes,
  parseBundleArgs,
  type BundleOptions,
} from '../src/cli/bundle.ts';
import { RELEASE_NODE_VERSION, cacheRoot } from '../src/cli/node-download.ts';
import {
  findBinary,
  freePort,
  loopbackPluginEnv,
  missingBinaries,
  openConnection,
  startProcess,
  waitForPort,
} from '../src/testing/index.ts';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const hello = path.join(fixtures, 'bundle-hello.ts');
const broken = path.join(fixtures, 'bundle-broken.ts');
const runtime = path.join(fixtures, 'bundle-runtime.ts');
/** A plugin whose decoder has a bug on line 17 (a TypeError on input starting with "B"). */
const buggy = path.join(fixtures, 'buggy-plugin.ts');
const noopPackage = path.join(import.meta.dirname, '..', '..', 'noop-plugin');
/** qemu-user runs the linux-arm64 executables here; CI installs it (SIP003_REQUIRE_INTEROP). */
const noQemu = missingBinaries(['qemu-aarch64-static']);
const sdkPackageJson = path.join(import.meta.dirname, '..', 'package.json');
const sdkVersion = (
  JSON.parse(await readFile(sdkPackageJson, 'utf8')) as {
    version: string;
  }
).version;

/** Where `sip003 bundle` caches the default standalone node for a target. */
function cachedNode(target: string): string {
  return path.join(cacheRoot(), 'node', `v${RELEASE_NODE_VERSION}-${target}`, 'node');
}

/** The io of bundleCommand, recorded. */
function capture() {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  const io = {
    stdout: (line: string) => out.stdout.push(line),
    stderr: (line: string) => out.stderr.push(line),
  };
  return { out, io };
}

/** A fresh temp dir, removed when the test ends. */
async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sip003-bundle-test-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runFile(file: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<Ran>((resolve) => {
    execFile(file, args, { env, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/**
 * Points os.tmpdir() (which reads TMPDIR on every call) at a private dir for this test and
 * returns it, so the test can see exactly which temp dirs bundle() leaves behind.
 */
async function privateTmp(): Promise<string> {
  const dir = await scratch();
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = dir;
  onTestFinished(() => {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  });
  return dir;
}

describe('bundleCommand usage errors', () => {
  // Never created: every case must fail before any bundle work.
  const out = path.join(tmpdir(), `sip003-bundle-usage-${String(process.pid)}`, 'out.js');
  // Under packages/sdk, whose package.json says "type": "module".
  const esmScoped = path.join(fixtures, 'bundle-never-written', 'hello.js');

  it.each<[string, string[], string]>([
    ['no arguments', [], 'missing <entry> (see sip003 bundle --help)'],
    ['no -o', [hello], 'missing -o <file>'],
    ['-o without value', [hello, '-o'], '-o needs a value'],
    ['-o followed by a flag', [hello, '-o', '--minify'], '-o needs a value'],
    ['empty --outfile=', [hello, '--outfile='], '--outfile needs a value'],
    [
      'empty --version-stamp=',
      [hello, '-o', out, '--version-stamp='],
      '--version-stamp needs a value',
    ],
    [
      'unknown flag',
      [hello, '-o', out, '--frobnicate'],
      'unknown flag "--frobnicate" (see sip003 bundle --help)',
    ],
    [
      'boolean with a value',
      [hello, '-o', out, '--minify=yes'],
      '--minify takes no value, got "--minify=yes"',
    ],
    [
      'two entries',
      [hello, 'other.ts', '-o', out],
      'unexpected argument "other.ts": one entry per bundle',
    ],
    [
      '--node without --standalone',
      [hello, '-o', out, '--node', process.execPath],
      '--node only applies with --standalone',
    ],
    ['missing entry', ['nope/main.ts', '-o', out], 'entry "nope/main.ts" not found'],
    [
      'entry is a directory',
      [fixtures, '-o', out],
      `entry ${JSON.stringify(fixtures)} is not a file`,
    ],
    [
      'outfile is the entry',
      [hello, '-o', hello],
      `-o ${JSON.stringify(hello)} would overwrite the entry`,
    ],
    [
      'a name right beside a "type": "module" package.json',
      [hello, '-o', path.join(path.dirname(sdkPackageJson), 'hello')],
      `-o ${JSON.stringify(path.join(path.dirname(sdkPackageJson), 'hello'))}: node would load it as an ES module ("type": "module" in ${sdkPackageJson}) but the bundle is CommonJS; name it hello.cjs, write it to another folder, or use --standalone`,
    ],
    [
      'an .mjs name',
      [hello, '-o', out.replace(/\.js$/, '.mjs')],
      `-o ${JSON.stringify(out.replace(/\.js$/, '.mjs'))}: .mjs is loaded as an ES module but the bundle is CommonJS; name it out.cjs`,
    ],
    [
      '--node not found',
      [hello, '-o', out, '--standalone', '--node', '/nonexistent/node'],
      '--node "/nonexistent/node" is not an executable file',
    ],
    [
      '--target without --standalone',
      [hello, '-o', out, '--target', 'linux-arm64'],
      '--target only applies with --standalone',
    ],
    [
      'an unknown --target',
      [hello, '-o', out, '--standalone', '--target', 'win-x64'],
      '--target: expected linux-x64 or linux-arm64, got "win-x64"',
    ],
    [
      '--target with a --node path',
      [hello, '-o', out, '--standalone', '--target', 'linux-arm64', '--node', process.execPath],
      '--target needs --node <version>: a --node <path> must run here, so its arch is the target',
    ],
    [
      'a node flag node does not know',
      [hello, '-o', out, '--node-options=--max-semi-space-size=1 --frobnicate'],
      `--node-options: node ${process.version} refuses "--max-semi-space-size=1 --frobnicate": ${process.execPath}: bad option: --frobnicate`,
    ],
    [
      'a node flag with a value node refuses',
      [hello, '-o', out, '--node-options=--max-semi-space-size=lots'],
      `--node-options: node ${process.version} refuses "--max-semi-space-size=lots": Error: illegal value for flag --max-semi-space-size=lots of type size_t`,
    ],
    [
      'a flag the embedded node does not know (run with it)',
      [hello, '-o', out, '--standalone', '--node-options=--bogus-flag'],
      `--node-options: node v${RELEASE_NODE_VERSION} refuses "--bogus-flag": ${cachedNode('linux-x64')}: bad option: --bogus-flag`,
    ],
    [
      'a flag for linux-arm64, checked by the same node version built for this machine',
      [hello, '-o', out, '--standalone', '--target', 'linux-arm64', '--node-options=--bogus-flag'],
      `--node-options: node v${RELEASE_NODE_VERSION} refuses "--bogus-flag": ${cachedNode('linux-x64')}: bad option: --bogus-flag`,
    ],
    [
      'flags for a standalone node that cannot carry them',
      [
        hello,
        '-o',
        out,
        '--standalone',
        '--node',
        process.execPath,
        '--node-options=--max-semi-space-size=1',
      ],
      `--node-options: node ${process.version} cannot carry flags in a standalone executable (SEA execArgv needs node >= 24.6); set NODE_OPTIONS where it runs, or embed a newer node`,
    ],
  ])('%s', async (_name, argv, message) => {
    const { out: seen, io } = capture();
    expect(await bundleCommand(argv, io)).toBe(64);
    expect(seen.stderr).toEqual([`sip003 bundle: ${message}`]);
    expect(seen.stdout).toEqual([]);
    expect(existsSync(path.dirname(out))).toBe(false);
    expect(existsSync(path.dirname(esmScoped))).toBe(false);
  });

  it('prints usage for --help and -h, even after other arguments', async () => {
    for (const argv of [['--help'], [hello, '-h', '--frobnicate']]) {
      const { out: seen, io } = capture();
      expect(await bundleCommand(argv, io)).toBe(0);
      expect(seen.stdout).toHaveLength(1);
      expect(seen.stdout[0]).toMatch(/^Usage: sip003 bundle <entry\.ts> -o <file> /);
      expect(seen.stderr).toEqual([]);
    }
  });

  it('parses every flag, in either spelling', () => {
    expect(
      parseBundleArgs([
        '--standalone',
        'src/main.ts',
        '--outfile=dist/x',
        '--node',
        '/opt/node',
        '--minify',
        '--version-stamp=1.2.3',
      ]),
    ).toEqual({
      help: false,
      options: {
        entry: 'src/main.ts',
        outfile: 'dist/x',
        standalone: true,
        node: '/opt/node',
        minify: true,
        version: '1.2.3',
      } satisfies BundleOptions,
    });
    expect(parseBundleArgs(['-o', 'x', '--', '-odd.ts'])).toEqual({
      help: false,
      options: { entry: '-odd.ts', outfile: 'x' },
    });
  });

  it.each<[number, string]>([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [150_000, '146.5 KiB'],
    [98_932_688, '94.3 MiB'],
  ])('formatBytes(%i) is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('bundleCommand failures', () => {
  it('reports an esbuild error as one line and exits 70', async () => {
    const dir = await scratch();
    const outfile = path.join(dir, 'broken.js');
    const { out, io } = capture();
    expect(await bundleCommand([broken, '-o', outfile], io)).toBe(70);
    expect(out.stderr).toHaveLength(1);
    expect(out.stderr[0]).toMatch(
      /^sip003 bundle: \S*bundle-broken\.ts:3:\d+: Could not resolve "\.\/bundle-does-not-exist\.ts"$/,
    );
    expect(out.stdout).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a --node without the SEA fuse, and leaves no temp dir behind', async () => {
    const dir = await scratch();
    const outfile = path.join(dir, 'hello');
    const notNode = ['/bin/true', '/usr/bin/true'].find((file) => existsSync(file));
    expect(notNode).toBeDefined();
    const temps = await privateTmp();
    const { out, io } = capture();
    expect(
      await bundleCommand([hello, '-o', outfile, '--standalone', '--node', notNode ?? ''], io),
    ).toBe(70);
    expect(out.stderr).toEqual([
      `sip003 bundle: ${notNode ?? ''} has no NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 sentinel: it is not a node build that supports SEA`,
    ]);
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(temps)).toEqual([]);
  });
});

describe('bundle without esbuild installed', () => {
  it('says how to install it, in one line, and exits 70', async () => {
    // The built SDK as npm would install it, with zod beside it but no esbuild anywhere above.
    const sdk = path.join(import.meta.dirname, '..');
    expect(existsSync(path.join(sdk, 'dist', 'cli', 'bundle.js')), 'run pnpm build first').toBe(
      true,
    );
    const project = await scratch();
    const installed = path.join(project, 'node_modules', '@sip003', 'sdk');
    await mkdir(installed, { recursive: true });
    for (const part of ['bin', 'dist', 'package.json']) {
      await cp(path.join(sdk, part), path.join(installed, part), { recursive: true });
    }
    await symlink(path.join(sdk, 'node_modules', 'zod'), path.join(project, 'node_modules', 'zod'));
    const ran = await runFile(process.execPath, [
      path.join(installed, 'bin', 'sip003.js'),
      'bundle',
      hello,
      '-o',
      path.join(project, 'out.js'),
    ]);
    expect(ran).toEqual({
      code: 70,
      stdout: '',
      stderr: 'sip003 bundle: install esbuild: npm install --save-dev esbuild\n',
    });
  });
});

describe('bundle to a script', () => {
  it('writes an executable CommonJS file with a shebang, a checksum and the package version', async () => {
    const dir = await scratch();
    // Outside the repo, so a require('zod') left in the output could not resolve.
    const outfile = path.join(dir, 'nested', 'bin', 'hello.js');
    const { out, io } = capture();
    expect(await bundleCommand([hello, '-o', outfile], io)).toBe(0);
    expect(out.stderr).toEqual([]);
    expect(out.stdout).toHaveLength(1);
    const hex = await sha256Of(outfile);
    const size = (await stat(outfile)).size;
    expect(out.stdout[0]).toBe(
      `wrote ${outfile} (${formatBytes(size)}, sha256 ${hex}, ${/(\d+) ms\)$/.exec(out.stdout[0] ?? '')?.[1] ?? '?'} ms)`,
    );

    const text = await readFile(outfile, 'utf8');
    // A shell header that execs node with the default flags, on itself.
    expect(
      text.startsWith('#!/bin/sh\n":" //; exec node --max-semi-space-size=1 "$0" "$@"\n'),
    ).toBe(true);
    expect(text).not.toMatch(/require\(["']zod["']\)/);
    expect((await stat(outfile)).mode & 0o777).toBe(0o755);
    expect(await readFile(`${outfile}.sha256`, 'utf8')).toBe(`${hex}  hello.js\n`);
    expect(await readdir(path.dirname(outfile))).toEqual(['hello.js', 'hello.js.sha256']);

    const viaNode = await runFile(process.execPath, [outfile, 'a', 'b']);
    expect(viaNode).toEqual({ code: 0, stdout: `hello ${sdkVersion} argv=4\n`, stderr: '' });
    const viaShebang = await runFile(outfile, ['a']);
    expect(viaShebang).toEqual({ code: 0, stdout: `hello ${sdkVersion} argv=3\n`, stderr: '' });
  });

  it('stamps --version-stamp and minifies', async () => {
    const dir = await scratch();
    const plain = await bundle({ entry: hello, outfile: path.join(dir, 'plain.js') });
    const small = await bundle({
      entry: hello,
      outfile: path.join(dir, 'small.js'),
      minify: true,
      version: '9.8.7-test',
    });
    expect(plain.version).toBe(sdkVersion);
    expect(small.version).toBe('9.8.7-test');
    expect(small.bytes).toBeLessThan(plain.bytes);
    expect(small.sha256).toBe(await sha256Of(small.outfile));
    expect(await runFile(small.outfile, [])).toEqual({
      code: 0,
      stdout: 'hello 9.8.7-test argv=2\n',
      stderr: '',
    });
  });

  it('marks its folder CommonJS when an extensionless name sits inside a "type": "module" package', async () => {
    const dir = await scratch();
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const result = await bundle({ entry: hello, outfile: path.join(dir, 'dist', 'hello') });
    expect(JSON.parse(await readFile(path.join(dir, 'dist', 'package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    expect(await runFile(result.outfile, ['x'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('writes a .cjs name inside a "type": "module" package, which node loads as CommonJS', async () => {
    const dir = await scratch();
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const result = await bundle({ entry: hello, outfile: path.join(dir, 'bin', 'hello.cjs') });
    expect(await runFile(result.outfile, ['x'])).toEqual({
      code: 0,
      stdout: `hello ${sdkVersion} argv=3\n`,
      stderr: '',
    });
  });

  it('keeps one shebang when the entry has its own', async () => {
    const dir = await scratch();
    const entry = path.join(dir, 'main.ts');
    await writeFile(entry, '#!/usr/bin/env node\nconst n: number = 42;\nconsole.log(n);\n');
    const result = await bundle({ entry, outfile: path.join(dir, 'out.js'), version: '1.0.0' });
    const lines = (await readFile(result.outfile, 'utf8')).split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines.slice(1).some((line) => line.startsWith('#!'))).toBe(false);
    expect(await runFile(result.outfile, [])).toEqual({ code: 0, stdout: '42\n', stderr: '' });
  });
});

describe('bundle --standalone', () => {
  it('writes a single executable that runs without node on PATH and without the SEA warning', async () => {
    const dir = await scratch();
    // A "type": "module" scope does not matter to a single executable.
    await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
    const outfile = path.join(dir, 'out', 'hello');
    const temps = await privateTmp();
    const { out, io } = capture();
    expect(await bundleCommand([hello, '-o', outfile, '--standalone'], io)).toBe(0);
    expect(out.stderr).toEqual([]);
    expect(out.stdout[0]).toMatch(
      new RegExp(
        `^wrote \\S+ \\(\\d+\\.\\d MiB, node v${RELEASE_NODE_VERSION.replace(/\./g, '\\.')} linux-x64, sha256 [0-9a-f]{64}, \\d+ ms\\)$`,
      ),
    );
    expect(await readdir(temps)).toEqual([]);
    expect(await readdir(path.dirname(outfile))).toEqual(['hello', 'hello.sha256']);

    const bytes = await readFile(outfile);
    expect(bytes.subarray(0, 2).toString('latin1')).not.toBe('#!');
    expect((await stat(outfile)).mode & 0o777).toBe(0o755);
    const hex = createHash('sha256').update(bytes).digest('hex');
    expect(await readFile(`${outfile}.sha256`, 'utf8')).toBe(`${hex}  hello\n`);
    expect(out.stdout[0]).toContain(`sha256 ${hex},`);

    // A PATH with nothing on it: the executable must not look for a node interpreter.
    const emptyBin = await scratch();
    expect(existsSync(path.join(emptyBin, 'node'))).toBe(false);
    const env = { PATH: emptyBin, HOME: dir };
    const ran = await runFile(outfile, ['a', 'b'], env);
    expect(ran).toEqual({ code: 0, stdout: `hello ${sdkVersion} argv=4\n`, stderr: '' });
    expect(ran.stderr).not.toMatch(/experimental/i);
  }, 120_000);
});

describe('bundle --node-options', () => {
  it('writes a plain #!/usr/bin/env node header with --node-options=none', () => {
    expect(parseBundleArgs(['e.ts', '-o', 'x', '--node-options=none'])).toEqual({
      help: false,
      options: { entry: 'e.ts', outfile: 'x', nodeOptions: [] },
    });
  });
  it('takes several flags', () => {
    expect(
      parseBundleArgs([
        'e.ts',
        '-o',
        'x',
        '--node-options=--max-semi-space-size=2 --max-old-space-size=64',
      ]),
    ).toMatchObject({
      options: { nodeOptions: ['--max-semi-space-size=2', '--max-old-space-size=64'] },
    });
  });
  it.each([
    [
      ['--node-options=--x;rm -rf /'],
      '--node-options: expected node flags such as --max-semi-space-size=1, or none, got "--x;rm"',
    ],
    [
      ['--node-options=$(id)'],
      '--node-options: expected node flags such as --max-semi-space-size=1, or none, got "$(id)"',
    ],
  ])('refuses %j', (extra, message) => {
    expect(() => parseBundleArgs(['e.ts', '-o', 'x', ...extra])).toThrow(message);
  });
});

describe('bundle --standalone: the embedded node and its flags', () => {
  it(`embeds node ${RELEASE_NODE_VERSION} by default, which starts with the default flags and no NODE_OPTIONS`, async () => {
    const dir = await scratch();
    const result = await bundle({
      entry: runtime,
      outfile: path.join(dir, 'rt'),
      standalone: true,
    });
    expect(result.node).toEqual({ version: `v${RELEASE_NODE_VERSION}`, target: 'linux-x64' });
    expect(await runFile(result.outfile, [], { PATH: '/nonexistent' })).toEqual({
      code: 0,
      stdout: `v${RELEASE_NODE_VERSION} x64 ["--max-semi-space-size=1"]\n`,
      stderr: '',
    });
    // --node-options=none: a standalone that carries no flags.
    const bare = await bundle({
      entry: runtime,
      outfile: path.join(dir, 'bare'),
      standalone: true,
      nodeOptions: [],
    });
    expect((await runFile(bare.outfile, [], { PATH: '/nonexistent' })).stdout).toBe(
      `v${RELEASE_NODE_VERSION} x64 []\n`,
    );
  }, 240_000);

  it('embeds a node given by path (this one, injected with postject) and gives it no flags', async () => {
    const dir = await scratch();
    const result = await bundle({
      entry: runtime,
      outfile: path.join(dir, 'rt'),
      standalone: true,
      node: process.execPath,
    });
    expect(result.node).toEqual({
      version: process.version,
      target: `${process.platform}-${process.arch}`,
    });
    expect(await runFile(result.outfile, [], { PATH: '/nonexistent' })).toEqual({
      code: 0,
      stdout: `${process.version} ${process.arch} []\n`,
      stderr: '',
    });
  }, 240_000);

  it.skipIf(noQemu.length > 0)(
    `builds a linux-arm64 executable on this machine, which runs under qemu-user${noQemu.length > 0 ? ' (skipped: qemu-aarch64-static missing)' : ''}`,
    async () => {
      const dir = await scratch();
      const { out, io } = capture();
      const outfile = path.join(dir, 'rt-arm64');
      expect(
        await bundleCommand(
          [runtime, '-o', outfile, '--standalone', '--target', 'linux-arm64'],
          io,
        ),
      ).toBe(0);
      expect(out.stdout[0]).toContain(`node v${RELEASE_NODE_VERSION} linux-arm64,`);
      const bytes = await readFile(outfile);
      // ELF e_machine 0xB7: AArch64.
      expect(bytes.readUInt16LE(18)).toBe(0xb7);
      const qemu = findBinary('qemu-aarch64-static') ?? '';
      expect(await runFile(qemu, [outfile], { PATH: '/nonexistent' })).toEqual({
        code: 0,
        stdout: `v${RELEASE_NODE_VERSION} arm64 ["--max-semi-space-size=1"]\n`,
        stderr: '',
      });
    },
    240_000,
  );
});

/**
 * Runs a bundled buggy-plugin on the server side, sends it the input its bug trips on, and returns
 * the `stack="..."` of the error line it logs.
 */
async function bugStackOf(executable: string): Promise<string> {
  const port = await freePort();
  const plugin = startProcess(executable, [], loopbackPluginEnv(port, 1, 'server'));
  onTestFinished(() => plugin.stop());
  await waitForPort(port, { child: plugin.child, timeoutMs: 30_000 });
  const socket = await openConnection(port);
  socket.on('error', () => undefined);
  socket.write('Boom');
  await new Promise((resolve) => socket.once('close', resolve));
  // The line is written before the reset is sent, but reaches us through another pipe.
  for (let i = 0; i < 200 && !plugin.output().includes('stack="'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return /stack="([^"]*)"/.exec(plugin.output())?.[1] ?? `no stack in: ${plugin.output()}`;
}

describe('bundle --sourcemap', () => {
  it('parses --sourcemap (inline) and --sourcemap=external, and refuses other values', () => {
    expect(parseBundleArgs(['e.ts', '-o', 'x', '--sourcemap'])).toMatchObject({
      options: { sourcemap: 'inline' },
    });
    expect(parseBundleArgs(['e.ts', '-o', 'x', '--sourcemap=external'])).toMatchObject({
      options: { sourcemap: 'external' },
    });
    expect(() => parseBundleArgs(['e.ts', '-o', 'x', '--sourcemap=beside'])).toThrow(
      '--sourcemap: expected inline or external, got "beside"',
    );
  });

  it('refuses an external map for a standalone executable, which has no file beside it', async () => {
    const { out, io } = capture();
    expect(
      await bundleCommand(
        [buggy, '-o', path.join(tmpdir(), 'never'), '--standalone', '--sourcemap=external'],
        io,
      ),
    ).toBe(64);
    expect(out.stderr).toEqual([
      'sip003 bundle: --sourcemap=external: a standalone executable has no file beside it when it runs; use --sourcemap (inline)',
    ]);
  });

  it('maps the stack of a bug to the .ts line, with the map inline or beside the script', async () => {
    const dir = await scratch();
    const inline = path.join(dir, 'inline', 'buggy');
    await bundle({ entry: buggy, outfile: inline, sourcemap: 'inline' });
    expect(await readFile(inline, 'utf8')).toMatch(/^#!\/bin\/sh\n.*--enable-source-maps/);
    expect(await bugStackOf(inline)).toMatch(
      /^at Object\.transform \(\S*buggy-plugin\.ts:17:\d+\)/,
    );

    const external = path.join(dir, 'external', 'buggy');
    await bundle({ entry: buggy, outfile: external, sourcemap: 'external', nodeOptions: [] });
    expect((await readFile(external, 'utf8')).trimEnd()).toMatch(
      /\n\/\/# sourceMappingURL=buggy\.map$/,
    );
    expect(existsSync(`${external}.map`)).toBe(true);
    expect(await bugStackOf(external)).toMatch(
      /^at Object\.transform \(\S*buggy-plugin\.ts:17:\d+\)/,
    );

    // Without: the stack names the bundle, which is what the author saw before.
    const bare = path.join(dir, 'bare', 'buggy');
    await bundle({ entry: buggy, outfile: bare });
    expect(await bugStackOf(bare)).toMatch(/^at Object\.transform \(\S*bare\/buggy:\d+:\d+\)/);
  }, 120_000);

  it(`maps the stack of a standalone executable (node ${RELEASE_NODE_VERSION}, inline map)`, async () => {
    const dir = await scratch();
    const outfile = path.join(dir, 'buggy');
    await bundle({ entry: buggy, outfile, standalone: true, sourcemap: 'inline' });
    expect(await bugStackOf(outfile)).toMatch(
      /^at Object\.transform \(\S*buggy-plugin\.ts:17:\d+\)/,
    );
  }, 240_000);

  it('refuses it for a standalone node without SEA execArgv, which could not enable source maps', async () => {
    const { out, io } = capture();
    expect(
      await bundleCommand(
        [
          buggy,
          '-o',
          path.join(tmpdir(), 'never'),
          '--standalone',
          '--node',
          process.execPath,
          '--sourcemap',
        ],
        io,
      ),
    ).toBe(64);
    expect(out.stderr).toEqual([
      `sip003 bundle: --sourcemap: node ${process.version} cannot carry --enable-source-maps in a standalone executable (SEA execArgv needs node >= 24.6); embed a newer node, or set NODE_OPTIONS=--enable-source-maps where it runs and bundle without --sourcemap`,
    ]);
  });
});

describe('bundle: the entry', () => {
  it('runs a main.ts entry as before, and an index.ts that only exports the plugin with runMain', async () => {
    const dir = await scratch();
    const { version } = JSON.parse(
      await readFile(path.join(noopPackage, 'package.json'), 'utf8'),
    ) as { version: string };
    for (const entry of ['main.ts', 'index.ts']) {
      const outfile = path.join(dir, entry.replace('.ts', ''));
      await bundle({ entry: path.join(noopPackage, 'src', entry), outfile });
      expect(await runFile(outfile, ['--version'])).toEqual({
        code: 0,
        stdout: `noop-plugin ${version}\n`,
        stderr: '',
      });
    }
  });

  it('does not start a plugin twice when the entry exports it and runs it', async () => {
    const dir = await scratch();
    const outfile = path.join(dir, 'both');
    await bundle({ entry: path.join(fixtures, 'bundle-export-and-main.ts'), outfile });
    expect(await runFile(outfile, ['--version'])).toEqual({
      code: 0,
      stdout: 'export-and-main 1.2.3\n',
      stderr: '',
    });
  });

  it('refuses an entry that starts no plugin, in one line, exit 64, and writes nothing', async () => {
    const dir = await scratch();
    const outfile = path.join(dir, 'silent');
    const entry = path.relative(process.cwd(), path.join(fixtures, 'bundle-no-plugin.ts'));
    const { out, io } = capture();
    expect(await bundleCommand([entry, '-o', outfile], io)).toBe(64);
    expect(out.stderr).toEqual([
      `sip003 bundle: entry ${JSON.stringify(entry)} starts no plugin: it neither calls runMain nor exports a plugin, so the bundle would exit 0 without a word for --version and everything else; bundle the file that calls runMain (src/main.ts), or export default definePlugin(...) from this one`,
    ]);
    expect(await readdir(dir)).toEqual([]);
  });
});
