import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach } from 'vitest';
import { openConnection } from '../src/testing/index.ts';

/** The repository root (this file is packages/sdk/test/helpers.ts). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/**
 * The simple-obfs vectors captured from the C binaries, kept in the repository beside the
 * plugin they test (packages/obfs-http-plugin/test/vectors). Missing vectors fail the test.
 */
export function vectorsDir(): string {
  const dir = resolve(repoRoot, 'packages/obfs-http-plugin/test/vectors');
  if (!existsSync(resolve(dir, 'index.json')))
    throw new Error(`protocol vectors not found at ${dir}`);
  return dir;
}

/** Collects log lines; `lines` is the captured output. */
export function logCollector(): { lines: string[]; sink: (line: string) => void } {
  const lines: string[] = [];
  return { lines, sink: (line) => lines.push(line) };
}

/**
 * Registers an afterEach that closes, in reverse order, what the test handed to the returned
 * `later(thing)`; `later` returns the thing.
 */
export function closeAfterEach(): <T extends { close(): Promise<unknown> }>(thing: T) => T {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  return (thing) => {
    cleanups.push(() => thing.close());
    return thing;
  };
}

/**
 * Connects and writes one byte to an echo (direct, or through a plugin): the socket when the
 * byte comes back, undefined when the connection was reset (refused by max-connections).
 */
export async function echoedOrReset(port: number): Promise<Socket | undefined> {
  // A refused connection may be reset before it even counts as connected here.
  const s = await openConnection(port).catch(() => undefined);
  if (s === undefined) return undefined;
  s.on('error', () => undefined);
  s.write('x');
  const kept = await new Promise<boolean>((resolve) => {
    s.once('data', () => resolve(true));
    s.once('close', () => resolve(false));
  });
  return kept ? s : undefined;
}

/** Runs a test fixture (packages/sdk/test/fixtures/<name>) from source through tsx. */
export function spawnFixture(name: string): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(
    process.execPath,
    ['--import', 'tsx', resolve(repoRoot, 'packages/sdk/test/fixtures', name)],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/**
 * Runs a fixture bundled beforehand, with plain node, for a test that needs the child's stderr
 * left as the parent made it. Through tsx, a cache miss starts esbuild's service with stderr
 * inherited, and spawning it clears O_NONBLOCK on that stderr (the flag belongs to the open
 * file, shared by both): the child then blocks in write(2) on a stderr nobody reads.
 */
export async function spawnBundledFixture(
  name: string,
): Promise<ChildProcessByStdio<null, Readable, Readable>> {
  const { outputFiles } = await build({
    entryPoints: [resolve(repoRoot, 'packages/sdk/test/fixtures', name)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
  });
  return spawn(process.execPath, ['--input-type=module', '--eval', outputFiles[0]!.text], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
