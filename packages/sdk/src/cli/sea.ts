/**
 * Node 20 single executable applications (SEA): turn one CommonJS script into a copy of a node
 * binary with the script injected, so the result runs on a box without Node. The steps are the
 * ones in the Node 20 docs: `node --experimental-sea-config`, copy the binary, `postject` with
 * the sentinel fuse.
 */
import { spawn } from 'node:child_process';
import { chmod, copyFile, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { bundleError, reason } from './failures.ts';

/** The string Node looks for to know a blob was injected (`:0` before, `:1` after). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The section (ELF), resource (PE) or Mach-O section name Node reads the blob from. */
export const SEA_RESOURCE = 'NODE_SEA_BLOB';

/** Input of {@link buildSingleExecutable}. */
export interface SingleExecutableOptions {
  /** The CommonJS script to embed (no shebang; `require` only reaches builtins). */
  script: string;
  /** The node binary to copy and inject into. */
  node: string;
  /** Where the executable goes; replaced atomically. Its directory must exist. */
  outfile: string;
  /** A scratch directory for the config and the blob; the caller removes it. */
  workdir: string;
}

type BinaryFormat = 'elf' | 'macho' | 'pe';

function formatOf(head: Buffer): BinaryFormat | undefined {
  if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return 'elf';
  if (head.subarray(0, 2).toString('latin1') === 'MZ') return 'pe';
  const magic = head.length >= 4 ? head.readUInt32BE(0) : 0;
  // 64-bit Mach-O in either byte order, or a universal (fat) binary.
  if (magic === 0xfeedfacf || magic === 0xcffaedfe || magic === 0xcafebabe) return 'macho';
  return undefined;
}

/**
 * Checks that `node` can take a blob: a known executable format whose fuse is still `:0`. This
 * turns postject's late, vague failures into one line that names the binary.
 */
async function checkNodeBinary(node: string): Promise<BinaryFormat> {
  let bytes: Buffer;
  try {
    bytes = await readFile(node);
  } catch (error) {
    throw bundleError(`cannot read node binary ${node}: ${reason(error)}`, error);
  }
  const format = formatOf(bytes);
  if (format === undefined) throw bundleError(`${node} is not an ELF, PE or Mach-O executable`);
  const at = bytes.indexOf(SEA_FUSE);
  if (at === -1) {
    throw bundleError(
      `${node} has no ${SEA_FUSE} sentinel: it is not a node build that supports SEA`,
    );
  }
  if (bytes.toString('latin1', at + SEA_FUSE.length, at + SEA_FUSE.length + 2) !== ':0') {
    throw bundleError(`${node} already carries an injected script (its SEA fuse is set)`);
  }
  return format;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], cwd: string): Promise<RunResult> {
  // NODE_OPTIONS of the caller (a test runner's loader, say) must not reach these node children.
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The last meaningful line of a child's output, without ANSI colours, for a one-line error. */
function lastLine(...texts: string[]): string {
  const lines = texts
    .join('\n')
    // eslint-disable-next-line no-control-regex -- postject colours its messages
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('warning:'));
  return lines.at(-1) ?? 'no output';
}

function exitText(result: RunResult): string {
  return result.signal === null ? `exit ${String(result.code)}` : `signal ${result.signal}`;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a), stat(b)]);
  return x.dev === y.dev && x.ino === y.ino;
}

async function writeBlob(options: SingleExecutableOptions): Promise<string> {
  const blob = path.join(options.workdir, 'sea-prep.blob');
  const config = path.join(options.workdir, 'sea-config.json');
  const seaConfig = {
    main: options.script,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: false,
  };
  await writeFile(config, `${JSON.stringify(seaConfig, null, 2)}\n`);
  // The blob format belongs to the node version that reads it, so the embedded binary writes it.
  const generator = (await sameFile(options.node, process.execPath))
    ? process.execPath
    : options.node;
  let result: RunResult;
  try {
    result = await run(generator, ['--experimental-sea-config', config], options.workdir);
  } catch (error) {
    throw bundleError(`cannot run ${generator} to write the SEA blob: ${reason(error)}`, error);
  }
  if (result.code !== 0) {
    throw bundleError(
      `${generator} --experimental-sea-config failed (${exitText(result)}): ${lastLine(result.stderr, result.stdout)}`,
    );
  }
  try {
    await stat(blob);
  } catch {
    throw bundleError(`${generator} --experimental-sea-config wrote no blob (is it node >= 20?)`);
  }
  return blob;
}

function postjectCli(): string {
  // The SDK ships as ESM (dist/cli/sea.js); this file is never bundled into a plugin.
  return createRequire(import.meta.url).resolve('postject/dist/cli.js');
}

async function inject(target: string, blob: string, format: BinaryFormat, cwd: string) {
  const args = [postjectCli(), target, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE];
  if (format === 'macho') args.push('--macho-segment-name', 'NODE_SEA');
  // A child process, not postject's JS API: its wasm runtime installs process-wide
  // uncaughtException/unhandledRejection handlers that rethrow, which must not leak into us.
  const result = await run(process.execPath, args, cwd);
  if (result.code !== 0) {
    throw bundleError(
      `postject failed (${exitText(result)}): ${lastLine(result.stdout, result.stderr)}`,
    );
  }
}

async function codesign(args: readonly string[], cwd: string): Promise<void> {
  const result = await run('codesign', args, cwd);
  if (result.code !== 0) {
    throw bundleError(
      `codesign ${args.join(' ')} failed: ${lastLine(result.stderr, result.stdout)}`,
    );
  }
}

/**
 * Builds a single executable: writes the blob with the embedded node, copies that node next to
 * `outfile`, injects the blob and renames the result over `outfile` (mode 0755). On macOS the
 * copy is unsigned before and ad-hoc signed after injection, as the Node docs require.
 */
export async function buildSingleExecutable(options: SingleExecutableOptions): Promise<void> {
  const format = await checkNodeBinary(options.node);
  const blob = await writeBlob(options);
  const partial = `${options.outfile}.partial-${String(process.pid)}`;
  try {
    try {
      await copyFile(options.node, partial);
      // The source may be read-only (a Nix store path, say); postject rewrites the file in place.
      await chmod(partial, 0o755);
    } catch (error) {
      throw bundleError(`cannot copy ${options.node} to ${partial}: ${reason(error)}`, error);
    }
    const signed = format === 'macho' && process.platform === 'darwin';
    if (signed) await codesign(['--remove-signature', partial], options.workdir);
    await inject(partial, blob, format, options.workdir);
    if (signed) await codesign(['--sign', '-', partial], options.workdir);
    await chmod(partial, 0o755);
    try {
      await rename(partial, options.outfile);
    } catch (error) {
      throw bundleError(`cannot write ${options.outfile}: ${reason(error)}`, error);
    }
  } finally {
    await rm(partial, { force: true });
  }
}
