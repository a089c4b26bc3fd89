import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { openConnection } from './servers.ts';

/** The env variable that turns a missing interop binary from a skip into a failure (CI sets it). */
export const REQUIRE_INTEROP = 'SIP003_REQUIRE_INTEROP';

/** Full path of an executable on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Which of `names` are missing. When SIP003_REQUIRE_INTEROP is set (CI), a missing binary throws
 * instead, so interop tests can never be skipped silently there.
 */
export function missingBinaries(names: readonly string[]): string[] {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length > 0 && (process.env[REQUIRE_INTEROP] ?? '') !== '') {
    throw new Error(
      `${REQUIRE_INTEROP} is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not on PATH (apt-get install -y shadowsocks-libev simple-obfs)`,
    );
  }
  return missing;
}

/** The lowest port the kernel hands out as a source port (ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}
const handedOut = new Set<number>();

function tryListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback TCP port for a process to listen on later, picked below the ephemeral range:
 * a port from bind(0) lies inside it, where any busy test's outgoing connection can take it as a
 * source port before the listener starts (EADDRINUSE). Never the same port twice per process.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1024, high - 12_000);
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await tryListen(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${low}-${high} after 200 tries`);
}

/** Polls until something accepts on the port; rejects after `timeoutMs` or when `child` exits. */
export async function waitForPort(
  port: number,
  {
    child,
    timeoutMs = 10_000,
    host = '127.0.0.1',
  }: { child?: ChildProcess; timeoutMs?: number; host?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `process ${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before port ${port} opened`,
      );
    }
    try {
      (await openConnection(port, host)).destroy();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

/** A child process with its stderr kept, ended by PID on close. */
export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Spawns a process with a pipe as stdin (like ss-libev does for plugins) and keeps its output. */
export function startProcess(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const keep = (t: string): void => {
    if (output.length < 200_000) output += t;
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  child.on('error', (e) => keep(`spawn error: ${e.message}\n`));
  return {
    child,
    output: () => output,
    async stop() {
      await stopChild(child);
    },
  };
}

/**
 * Ends a child by PID: SIGTERM, then SIGKILL after `graceMs`. Resolves with its exit code or the
 * signal that ended it.
 */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<number | string> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  return child.exitCode ?? child.signalCode ?? '?';
}

/**
 * True while `pid` runs. A zombie (exited, not yet reaped by its parent) counts as gone: what a
 * test of "the plugin is gone within 1 s" means. Reads Linux's /proc.
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The environment a SIP003 host gives its plugin, on 127.0.0.1: `remotePort` and `localPort` as
 * SS_REMOTE_PORT and SS_LOCAL_PORT, `options` as SS_PLUGIN_OPTIONS, over `base`.
 */
export function loopbackPluginEnv(
  remotePort: number,
  localPort: number,
  options: string,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return {
    ...base,
    SS_REMOTE_HOST: '127.0.0.1',
    SS_REMOTE_PORT: String(remotePort),
    SS_LOCAL_HOST: '127.0.0.1',
    SS_LOCAL_PORT: String(localPort),
    SS_PLUGIN_OPTIONS: options,
  };
}
