// Helpers for the tests that run the noop plugin as a real process (lifecycle, cluster).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'vitest';
import {
  startEchoServer,
  openConnection,
  freePort,
  waitForPort,
  isRunning,
  type TestServer,
} from '../src/testing/index.ts';
import { repoRoot } from './helpers.ts';

// The noop plugin run from source (tsx), so these tests need no prior build. Workers inherit
// the loader and the export condition through execArgv.
export const plugin: readonly string[] = [
  '--conditions=@sip003/source',
  '--import',
  'tsx',
  resolve(repoRoot, 'packages/noop-plugin/src/main.ts'),
];
const host = resolve(repoRoot, 'packages/sdk/test/fixtures/host.mjs');
/** Spawns the plugin from the repository root, where `--import tsx` resolves. */
export function spawnPlugin(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe'] },
): ChildProcess {
  return spawn(process.execPath, [...plugin, ...args], { ...options, cwd: repoRoot });
}

/** Pids and servers a test started, ended by `cleanup()` after each test. */
export const pids: number[] = [];
export const servers: TestServer[] = [];
export async function cleanup(): Promise<void> {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const s of servers.splice(0)) await s.close();
}

/** Milliseconds until `pid` is gone, polling every 10 ms up to `limitMs`. */
export async function timeToExit(pid: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < limitMs / 10 && isRunning(pid); i++)
    await new Promise((r) => setTimeout(r, 10));
  return performance.now() - t0;
}

export async function freePortEnv(target: number): Promise<NodeJS.ProcessEnv> {
  const port = await freePort();
  return {
    ...process.env,
    SS_REMOTE_HOST: '127.0.0.1',
    SS_REMOTE_PORT: String(target),
    SS_LOCAL_HOST: '127.0.0.1',
    SS_LOCAL_PORT: String(port),
  };
}

/** Resolves once `text()` matches, checked on each chunk the child writes to stderr. */
export function untilOutput(
  child: ChildProcess,
  text: () => string,
  pattern: RegExp,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pattern.test(text())) return;
      child.stderr!.off('data', check);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (): void => reject(new Error(`exited before ${pattern}; output:\n${text()}`));
    child.stderr!.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

export function startPlugin(
  env: NodeJS.ProcessEnv,
  stdin: 'pipe' | 'ignore' = 'pipe',
): { child: ChildProcess; stderr: () => string } {
  const child = spawnPlugin([], { env, stdio: [stdin, 'ignore', 'pipe'] });
  pids.push(child.pid!);
  let text = '';
  // Registered first, so the text is complete whenever a later 'data' listener looks at it.
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (text += t));
  return { child, stderr: () => text };
}

/** The noop plugin on the client side in front of an echo server, with these options, listening. */
export async function startListening(
  options: string,
): Promise<{ child: ChildProcess; stderr: () => string; port: number }> {
  const echo = await startEchoServer();
  servers.push(echo);
  const env = await freePortEnv(echo.port);
  env['SS_PLUGIN_OPTIONS'] = options;
  const { child, stderr } = startPlugin(env);
  const port = Number(env['SS_LOCAL_PORT']);
  await waitForPort(port, { child, timeoutMs: 20_000 });
  return { child, stderr, port };
}

/** Server-side env with `workers=N`: listen on a free SS_REMOTE port, dial the echo server. */
export async function workersEnv(
  echoPort: number,
  workers: number,
  options = '',
): Promise<{ env: NodeJS.ProcessEnv; port: number }> {
  const env = await freePortEnv(echoPort);
  const port = Number(env['SS_LOCAL_PORT']);
  Object.assign(env, {
    SS_REMOTE_PORT: String(port),
    SS_LOCAL_PORT: String(echoPort),
    SS_PLUGIN_OPTIONS: `server;workers=${workers}${options === '' ? '' : `;${options}`}`,
  });
  return { env, port };
}

/**
 * The noop plugin on the server side (listen on SS_REMOTE, dial SS_LOCAL) with `workers=N`, in
 * front of an echo server; resolves once the primary logged that all workers listen.
 */
export async function startWorkers(
  workers: number,
  options = '',
): Promise<{ child: ChildProcess; stderr: () => string; port: number }> {
  const echo = await startEchoServer();
  servers.push(echo);
  const { env, port } = await workersEnv(echo.port, workers, options);
  const { child, stderr } = startPlugin(env);
  // The whole line, pids included: a chunk may end in the middle of it.
  await untilOutput(child, stderr, new RegExp(`${workers} workers listening pids=[0-9,]+\\n`));
  return { child, stderr, port };
}

/** A stand-in host (fixtures/host.mjs) running the plugin with this stdin; both pids. */
export async function startHost(
  env: NodeJS.ProcessEnv,
  mode: 'pipe' | 'null',
): Promise<{ hostProc: ChildProcess; pluginPid: number; stderr: () => string }> {
  const hostProc = spawn(process.execPath, [host, mode, process.execPath, ...plugin], {
    env,
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pids.push(hostProc.pid!);
  let text = '';
  hostProc.stderr.setEncoding('utf8').on('data', (t: string) => (text += t));
  const [line] = (await once(createInterface({ input: hostProc.stdout }), 'line')) as [string];
  const pluginPid = Number(line);
  pids.push(pluginPid);
  return { hostProc, pluginPid, stderr: () => text };
}

/** Pids of live worker processes serving `port` (found by their environment in /proc). */
export function workersOn(port: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const vars = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (vars.includes('SIP003_WORKER=1') && vars.includes(`SS_REMOTE_PORT=${port}`)) {
        if (isRunning(Number(entry))) found.push(Number(entry));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * Starts the plugin, connects to `port` as fast as it can (bounded by 20 s: tsx starts slowly)
 * and sends SIGTERM the moment a connection is accepted. Resolves with the exit code, or
 * "killed by SIGNAL".
 */
export async function sigtermAtFirstAccept(
  env: NodeJS.ProcessEnv,
  port: number,
): Promise<number | string> {
  const { child, stderr } = startPlugin(env);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const deadline = performance.now() + 20_000;
  let accepted = false;
  for (let i = 0; i < 100_000 && !accepted && performance.now() < deadline; i++) {
    try {
      (await openConnection(port)).destroy();
      accepted = true;
    } catch {
      await new Promise((r) => setImmediate(r));
    }
  }
  expect(accepted, `port ${port} never accepted; output:\n${stderr()}`).toBe(true);
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  return code ?? `killed by ${signal ?? '?'}`;
}
