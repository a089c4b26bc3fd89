import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { ErrorCode, OptionsError } from '../errors.ts';

/**
 * The absolute path of a PT executable: `exec` itself when it holds a `/`, else the first match
 * on PATH. Throws an OptionsError naming `option` when there is none or it cannot be executed, so
 * a plugin's `check` reports it before anything starts.
 */
export function resolveExecutable(
  exec: string,
  option = 'exec',
  path = process.env['PATH'] ?? '',
): string {
  const fail = (why: string): never => {
    throw new OptionsError(
      ErrorCode.OPTION_INVALID,
      option,
      'an executable file',
      exec,
      `${option}: ${JSON.stringify(exec)} ${why}`,
    );
  };
  const candidates = exec.includes('/')
    ? [resolve(exec)]
    : path
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, exec));
  for (const candidate of candidates) {
    let isFile: boolean;
    try {
      isFile = statSync(candidate).isFile();
    } catch {
      continue;
    }
    if (!isFile) return fail(`is not a file (${candidate})`);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      return fail(`is not executable (${candidate})`);
    }
    return candidate;
  }
  return fail(
    exec.includes('/')
      ? 'does not exist'
      : 'is not on PATH (install obfs4proxy, or give exec=/path/to/it)',
  );
}
