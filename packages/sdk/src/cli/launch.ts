/**
 * How `sip003 run` and `sip003 dev` start a plugin: an executable as it is, a `.js` file with this
 * node, a `.ts` file with this node through tsx. Each way that cannot work (no such file, not
 * executable, tsx missing) is one line before anything is spawned, not a spawn errno later.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exitText } from './exec.ts';
import { usageError } from './failures.ts';
import { findBinary, stopChild } from '../testing/processes.ts';

/** The program and arguments that start a plugin. */
export interface PluginCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** The plugin file itself, for messages. */
  readonly path: string;
}

const SCRIPT = /\.(c|m)?js$/;
const TYPESCRIPT = /\.(c|m)?ts$/;

/**
 * tsx's loader (`node --import tsx`), looked up from each folder of `from` in turn: the author's
 * project first, so its own tsx version wins, then the SDK's folder. undefined if none has it.
 */
export function resolveTsx(from: readonly string[]): string | undefined {
  for (const dir of from) {
    try {
      // createRequire wants a file name; it resolves from that file's folder upwards.
      return createRequire(join(dir, 'noop.js')).resolve('tsx');
    } catch {
      // not installed there
    }
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The command that starts the plugin at `spec`: a path, or a bare name that is no file of the
 * current folder, looked up on PATH (`--server-plugin obfs-server`). `role` and `command` name it
 * in errors: `sip003 run: client plugin: ...`.
 */
export function pluginCommand(
  spec: string,
  role: string,
  command: string,
  nodeVersion = process.versions.node,
): PluginCommand {
  const fail: (what: string) => never = (what) => {
    throw usageError(`${command}: ${role}: ${what}`);
  };
  let path = resolve(spec);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) {
    const onPath = spec.includes('/') ? undefined : findBinary(spec);
    if (onPath === undefined) {
      // Only a build output has an obvious fix; anything else is just the wrong path.
      const built = `${sep}dist${sep}`;
      fail(
        `no such file ${JSON.stringify(path)}${path.includes(built) ? '; build it first' : ''}${spec.includes('/') ? '' : ' (nor on PATH)'}`,
      );
    }
    path = onPath;
  } else if (!stat.isFile()) {
    fail(`${JSON.stringify(path)} is not a file`);
  }
  if (SCRIPT.test(path)) return { command: process.execPath, args: [path], path };
  if (TYPESCRIPT.test(path)) {
    // `--import` (how tsx hooks in) arrived in node 20.6; older 20.x would fail with "bad option".
    const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
    if (major < 20 || (major === 20 && minor < 6))
      fail(
        `a .ts entry runs through tsx with --import, which needs node 20.6 or newer; this is node ${nodeVersion} (upgrade node, or give the bundled .js)`,
      );
    const tsx = resolveTsx([dirname(path), dirname(fileURLToPath(import.meta.url))]);
    if (tsx === undefined) fail('install tsx: npm install --save-dev tsx');
    return {
      command: process.execPath,
      args: ['--import', pathToFileURL(tsx).href, path],
      path,
    };
  }
  if (!isExecutable(path))
    fail(
      `${JSON.stringify(path)} is not executable and not a .js or .ts file; chmod +x it, or give the plugin's .js or .ts entry`,
    );
  return { command: path, args: [], path };
}

/** A started plugin: its process, and how it ended. */
export interface PluginProcess {
  readonly child: ChildProcess;
  /** `exit 0`, `signal SIGTERM`, `did not start: EACCES`, or undefined while it runs. */
  outcome(): string | undefined;
  /** Ends it by PID (SIGTERM, then SIGKILL) and returns {@link outcome}. */
  stop(): Promise<string>;
}

/**
 * Starts a plugin the way ss-libev does (its environment, stdin a pipe whose write end we keep),
 * with each stderr line printed as `[label] line`.
 */
export function spawnPlugin(
  plugin: PluginCommand,
  env: NodeJS.ProcessEnv,
  label: string,
  io: { stderr(line: string): void },
): PluginProcess {
  const child = spawn(plugin.command, [...plugin.args], {
    env,
    stdio: ['pipe', 'inherit', 'pipe'],
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) io.stderr(`[${label}] ${line}`);
  });
  child.stderr?.on('end', () => {
    if (partial !== '') io.stderr(`[${label}] ${partial}`);
    partial = '';
  });
  child.on('error', (error: NodeJS.ErrnoException) => {
    spawnError = error;
    io.stderr(`[${label}] cannot start ${plugin.path}: ${error.message}`);
  });
  // A plugin that exits closes its stdin pipe: nothing to write there, only the error to ignore.
  child.stdin?.on('error', () => undefined);
  const outcome = (): string | undefined => {
    // On a failed spawn node sets exitCode to the negative errno: that is no exit code at all.
    if (spawnError !== undefined) return `did not start: ${spawnError.code ?? spawnError.message}`;
    if (child.exitCode === null && child.signalCode === null) return undefined;
    return exitText({ code: child.exitCode, signal: child.signalCode });
  };
  return {
    child,
    outcome,
    async stop() {
      await stopChild(child);
      return outcome() ?? 'still running';
    },
  };
}
