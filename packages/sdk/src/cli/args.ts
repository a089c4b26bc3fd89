import { ErrorCode, PluginError } from '../errors.ts';

/** Parsed command line: flags with values, boolean flags and positionals. */
export interface ParsedArgs {
  values: Map<string, string>;
  flags: Set<string>;
  positionals: string[];
}

/**
 * A small argv parser: `--name value`, `--name=value`, boolean `--flag`; `spec` lists which names
 * take a value and which are booleans. Anything else is a usage error naming the argument.
 */
export function parseArgs(
  argv: readonly string[],
  spec: { values: readonly string[]; flags: readonly string[] },
  command: string,
): ParsedArgs {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (spec.flags.includes(name) && eq < 0) {
      flags.add(name);
    } else if (spec.values.includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined)
        throw new PluginError(ErrorCode.USAGE, `${command}: ${name} needs a value`);
      values.set(name, value);
    } else {
      throw new PluginError(
        ErrorCode.USAGE,
        `${command}: unknown argument ${JSON.stringify(arg)} (see ${command} --help)`,
      );
    }
  }
  return { values, flags, positionals };
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
