import { parseArgs as parseArgv } from 'node:util';
import { ErrorCode, PluginError } from '../errors.ts';

/** The options of a command: each `--name` takes a string, or is a boolean flag. */
export type ArgSpec = Readonly<Record<string, { type: 'string' | 'boolean' }>>;

/** Parsed command line: `values` keyed by long name (without `--`), then positionals. */
export interface ParsedArgs {
  values: Readonly<Record<string, string | boolean | undefined>>;
  positionals: string[];
}

/**
 * `util.parseArgs` (strict, positionals allowed) with its errors turned into one-line
 * `SIP003_USAGE` errors that name the argument: `--name=value`, `--name value`, `--flag`.
 */
export function parseCommandLine(
  argv: readonly string[],
  spec: ArgSpec,
  command: string,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgv({
      args: [...argv],
      options: spec,
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const name = /'(-[^' ]+)/.exec((error as Error).message)?.[1] ?? '?';
    throw new PluginError(
      ErrorCode.USAGE,
      code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
        ? spec[name.replace(/^--/, '')]?.type === 'boolean'
          ? `${command}: ${name} takes no value`
          : `${command}: ${name} needs a value`
        : `${command}: unknown argument ${JSON.stringify(name)} (see ${command} --help)`,
    );
  }
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1 << 20,
  mib: 1 << 20,
  mb: 1e6,
  g: 1 << 30,
  gib: 1 << 30,
  gb: 1e9,
};

/** Parses `16MiB`, `1g`, `4096` into bytes; undefined if malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}
