/**
 * Node single executable applications (SEA): turn one CommonJS script into a copy of a node
 * binary with the script injected, so the result runs on a box without Node. Two ways, by the
 * version of the embedded node:
 * - node >= 25.5: `node --build-sea config.json` does it all, and `"executable"` may name a node
 *   of another arch (the blob has no machine code unless the code cache is on), so a linux-x64
 *   machine builds linux-arm64 executables with the same-version x64 node;
 * - older: `node --experimental-sea-config` writes the blob, then `postject` (an optional peer
 *   dependency, loaded only here) injects it into a copy of the binary, of either arch too.
 */
import { chmod, copyFile, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { exec, exitText, lastLine, type ExecResult } from './exec.ts';
import { bundleError, reason } from './failures.ts';

/** The string Node looks for to know a blob was injected (`:0` before, `:1` after). */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The section (ELF), resource (PE) or Mach-O section name Node reads the blob from. */
export const SEA_RESOURCE = 'NODE_SEA_BLOB';

/** What a node version's SEA support can do. */
export interface SeaFeatures {
  /** `execArgv` in the SEA config: flags carried by the executable itself (node >= 24.6). */
  execArgv: boolean;
  /** `--build-sea`: no postject, and cross-arch injection through `"executable"` (>= 25.5). */
  buildSea: boolean;
}

function atLeast(version: readonly number[], major: number, minor: number): boolean {
  const [a = 0, b = 0] = version;
  return a > major || (a === major && b >= minor);
}

/** The SEA features of node `[major, minor, patch]`. */
export function seaFeatures(version: readonly number[]): SeaFeatures {
  return { execArgv: atLeast(version, 24, 6), buildSea: atLeast(version, 25, 5) };
}

/** Input of {@link buildSingleExecutable}. */
export interface SingleExecutableOptions {
  /** The CommonJS script to embed (no shebang; `require` only reaches builtins). */
  script: string;
  /** The node binary to copy and inject into (any arch with `features.buildSea`). */
  node: string;
  /** A node of the same version that runs on this machine; it writes the blob. */
  host: string;
  /** What that node version supports (see {@link seaFeatures}). */
  features: SeaFeatures;
  /** Node flags the executable starts with (needs `features.execArgv` when not empty). */
  execArgv: readonly string[];
  /** Where the executable goes; replaced atomically. Its directory must exist. */
  outfile: string;
  /** A scratch directory for the config and the blob; the caller removes it. */
  workdir: string;
}

export type BinaryFormat = 'elf' | 'macho' | 'pe';

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
export async function checkNodeBinary(node: string): Promise<BinaryFormat> {
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

function seaConfig(options: SingleExecutableOptions, output: string): Record<string, unknown> {
  return {
    main: options.script,
    output,
    disableExperimentalSEAWarning: true,
    // Measured with node 26.12.1 on linux-x64 (median of 25 alternating runs, loaded machine):
    // `--version` 185 ms with the code cache, 190 ms without; first byte through a pair 484 vs
    // 493 ms. No gain worth a blob that only its own arch can read, so it stays off. (A startup
    // snapshot did cut both, 190 -> 108 ms and 355 -> 260 ms, but needs runMain deferred to
    // the deserialized main and an audit of every import-time side effect; see bench/README.md.)
    useCodeCache: false,
    ...(options.execArgv.length > 0 ? { execArgv: options.execArgv } : {}),
  };
}

/** Runs the host node on a SEA config; `flag` is `--build-sea` or `--experimental-sea-config`. */
async function runHost(options: SingleExecutableOptions, flag: string, config: object) {
  const file = path.join(options.workdir, 'sea-config.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  let result: ExecResult;
  try {
    result = await exec(options.host, [flag, file], { cwd: options.workdir });
  } catch (error) {
    throw bundleError(
      `cannot run ${options.host} to build the executable: ${reason(error)}`,
      error,
    );
  }
  if (result.code !== 0) {
    throw bundleError(
      `${options.host} ${flag} failed (${exitText(result)}): ${lastLine(result.stderr, result.stdout)}`,
    );
  }
}

async function mustExist(file: string, what: string): Promise<void> {
  try {
    await stat(file);
  } catch {
    throw bundleError(`${what} wrote no ${path.basename(file)}`);
  }
}

/** node >= 25.5: `--build-sea` copies `options.node`, injects the blob and writes `partial`. */
async function buildSea(options: SingleExecutableOptions, partial: string): Promise<void> {
  await runHost(options, '--build-sea', {
    ...seaConfig(options, partial),
    executable: options.node,
  });
  await mustExist(partial, `${options.host} --build-sea`);
}

function postjectCli(): string {
  // Resolved only on this path, so installs that never embed an old node need no postject.
  try {
    return createRequire(import.meta.url).resolve('postject/dist/cli.js');
  } catch {
    throw bundleError(
      'install postject: npm install --save-dev postject (needed to embed a node older than 25.5; or use --node with a newer version)',
    );
  }
}

/** node < 25.5: the host writes the blob, postject injects it into a copy of `options.node`. */
async function injectWithPostject(
  options: SingleExecutableOptions,
  partial: string,
  format: BinaryFormat,
): Promise<void> {
  const blob = path.join(options.workdir, 'sea-prep.blob');
  await runHost(options, '--experimental-sea-config', seaConfig(options, blob));
  await mustExist(blob, `${options.host} --experimental-sea-config`);
  const cli = postjectCli();
  try {
    await copyFile(options.node, partial);
    // The source may be read-only (a Nix store path, say); postject rewrites the file in place.
    await chmod(partial, 0o755);
  } catch (error) {
    throw bundleError(`cannot copy ${options.node} to ${partial}: ${reason(error)}`, error);
  }
  const signed = format === 'macho' && process.platform === 'darwin';
  if (signed) await codesign(['--remove-signature', partial], options.workdir);
  const args = [cli, partial, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE];
  if (format === 'macho') args.push('--macho-segment-name', 'NODE_SEA');
  // A child process, not postject's JS API: its wasm runtime installs process-wide
  // uncaughtException/unhandledRejection handlers that rethrow, which must not leak into us.
  const result = await exec(process.execPath, args, { cwd: options.workdir });
  if (result.code !== 0) {
    throw bundleError(
      `postject failed (${exitText(result)}): ${lastLine(result.stdout, result.stderr)}`,
    );
  }
}

async function codesign(args: readonly string[], cwd: string): Promise<void> {
  const result = await exec('codesign', args, { cwd });
  if (result.code !== 0) {
    throw bundleError(
      `codesign ${args.join(' ')} failed: ${lastLine(result.stderr, result.stdout)}`,
    );
  }
}

/**
 * Builds a single executable from `options.node` with the script injected and renames it over
 * `outfile` (mode 0755). On macOS the result is ad-hoc signed, as the Node docs require.
 */
export async function buildSingleExecutable(options: SingleExecutableOptions): Promise<void> {
  const format = await checkNodeBinary(options.node);
  const partial = `${options.outfile}.partial-${String(process.pid)}`;
  try {
    if (options.features.buildSea) await buildSea(options, partial);
    else await injectWithPostject(options, partial, format);
    if (format === 'macho' && process.platform === 'darwin') {
      await codesign(['--force', '--sign', '-', partial], options.workdir);
    }
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
