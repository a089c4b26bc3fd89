/**
 * Running the helper programs `sip003 bundle` needs (node, npm, tar, postject) as child processes
 * and turning their output into one-line errors.
 */
import { spawn } from 'node:child_process';

/** How a child ended and what it printed. */
export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` in `cwd` and resolves when it ends (rejects only when it cannot start).
 * Killed after `timeoutMs` (default 5 minutes: downloading a node binary is the slowest step).
 */
export function exec(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  // NODE_OPTIONS of the caller (a test runner's loader, say) must not reach these children: a
  // node of another version may not know those flags, and they would change what we check.
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 300_000,
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

/** The meaningful lines of a child's output, without ANSI colours. */
function meaningfulLines(texts: string[]): string[] {
  return (
    texts
      .join('\n')
      // eslint-disable-next-line no-control-regex -- postject and npm colour their messages
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('warning:'))
  );
}

/** The last meaningful line of a child's output, for a one-line error. */
export function lastLine(...texts: string[]): string {
  return meaningfulLines(texts).at(-1) ?? 'no output';
}

/** The first meaningful line: node's own complaint comes first, hints follow. */
export function firstLine(...texts: string[]): string {
  return meaningfulLines(texts)[0] ?? 'no output';
}

/** `exit 1` or `signal SIGKILL`. */
export function exitText(result: Pick<ExecResult, 'code' | 'signal'>): string {
  return result.signal === null ? `exit ${String(result.code)}` : `signal ${result.signal}`;
}
