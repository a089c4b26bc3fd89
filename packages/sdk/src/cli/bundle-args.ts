import { usageError } from './failures.ts';
import type { BundleOptions } from './bundle.ts';

/**
 * The default flags of a plain bundle. A relay holds many long-lived sockets and makes short-lived
 * garbage per chunk; V8 grows its young generation to 16 MiB per semispace under such load, which
 * showed up as ~20 KiB of RSS per open connection in `pnpm bench`. A 1 MiB young generation cut that
 * to ~12 KiB with no loss of throughput or connection rate.
 */
export const DEFAULT_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=1'];

/** Flags safe to put on a shell command line: `--name` or `--name=value`, no quoting needed. */
const NODE_FLAG = /^--[a-z0-9][a-z0-9-_]*(=[A-Za-z0-9._:,/+-]+)?$/;

/** `sip003 bundle --help`. */
export const BUNDLE_USAGE = [
  'Usage: sip003 bundle <entry.ts> -o <file> [--standalone] [--node <path>] [--minify]',
  '                     [--version-stamp <v>] [--node-options=<flags>|none]',
  '',
  'Bundles a plugin entry and all its dependencies into one CommonJS file for node >= 20.',
  '',
  '  -o, --outfile <file>   where to write (directories are created); also writes <file>.sha256',
  '  --standalone           a single executable that needs no node (Node SEA, about 100 MB)',
  '  --node <path>          the node binary to embed with --standalone (default: this node)',
  '  --minify               minify the script',
  '  --version-stamp <v>    the version to stamp (default: the nearest package.json version)',
  `  --node-options=<f>     node flags of a plain bundle, space-separated, or none (default: ${DEFAULT_NODE_OPTIONS.join(' ')})`,
  '  -h, --help             show this text',
  '',
  'Exit codes: 0 written, 64 usage error, 70 bundle failure.',
].join('\n');

const VALUE_FLAGS: Readonly<Record<string, 'outfile' | 'node' | 'version' | 'nodeOptions'>> = {
  '-o': 'outfile',
  '--outfile': 'outfile',
  '--node': 'node',
  '--version-stamp': 'version',
  '--node-options': 'nodeOptions',
};
const BOOLEAN_FLAGS: Readonly<Record<string, 'standalone' | 'minify'>> = {
  '--standalone': 'standalone',
  '--minify': 'minify',
};

type Parsed = { help: true } | { help: false; options: BundleOptions };

/** Parses the argv after `bundle`. Throws a `SIP003_USAGE` error naming the bad flag. */
export function parseBundleArgs(argv: readonly string[]): Parsed {
  const values: { outfile?: string; node?: string; version?: string; nodeOptions?: string } = {};
  const flags: { standalone?: boolean; minify?: boolean } = {};
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') return { help: true };
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const valueKey = VALUE_FLAGS[name];
    const booleanKey = BOOLEAN_FLAGS[name];
    if (valueKey !== undefined) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      // `-o --minify` is a forgotten value, not a file named "--minify".
      if (value === undefined || value === '' || (eq === -1 && value.startsWith('-'))) {
        throw usageError(`${name} needs a value`);
      }
      values[valueKey] = value;
    } else if (booleanKey !== undefined) {
      if (eq !== -1) throw usageError(`${name} takes no value, got ${JSON.stringify(arg)}`);
      flags[booleanKey] = true;
    } else {
      throw usageError(`unknown flag ${JSON.stringify(name)} (see sip003 bundle --help)`);
    }
  }
  const [entry, extra] = positionals;
  if (entry === undefined) throw usageError('missing <entry> (see sip003 bundle --help)');
  if (extra !== undefined) {
    throw usageError(`unexpected argument ${JSON.stringify(extra)}: one entry per bundle`);
  }
  if (values.outfile === undefined) throw usageError('missing -o <file>');
  if (values.node !== undefined && flags.standalone !== true) {
    throw usageError('--node only applies with --standalone');
  }
  const options: BundleOptions = { entry, outfile: values.outfile };
  if (flags.standalone === true) options.standalone = true;
  if (flags.minify === true) options.minify = true;
  if (values.node !== undefined) options.node = values.node;
  if (values.version !== undefined) options.version = values.version;
  if (values.nodeOptions !== undefined) {
    if (flags.standalone === true) {
      throw usageError(
        '--node-options only applies to plain bundles (give a standalone executable NODE_OPTIONS at run time)',
      );
    }
    const list =
      values.nodeOptions === 'none' ? [] : values.nodeOptions.split(/\s+/).filter((f) => f !== '');
    const bad = list.find((f) => !NODE_FLAG.test(f));
    if (bad !== undefined) {
      throw usageError(
        `--node-options: expected node flags such as --max-semi-space-size=1, or none, got ${JSON.stringify(bad)}`,
      );
    }
    options.nodeOptions = list;
  }
  return { help: false, options };
}
