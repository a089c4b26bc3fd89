import { parseArgs } from 'node:util';
import { usageError } from './failures.ts';
import { RELEASE_NODE_VERSION, TARGETS, isNodeVersion, type Target } from './node-download.ts';
import type { BundleOptions } from './bundle.ts';

/**
 * The default flags of a bundle: the plain script's header and, where the embedded node has SEA
 * `execArgv` (>= 24.6), a standalone executable's own flags. A relay holds many long-lived
 * sockets and makes short-lived garbage per chunk; V8 grows its young generation to 16 MiB per
 * semispace under such load, which showed up as ~20 KiB of RSS per open connection in
 * `pnpm bench`. A 1 MiB young generation cut that to ~12 KiB with no loss of throughput or
 * connection rate.
 */
export const DEFAULT_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=1'];

/** Flags safe to put on a shell command line: `--name` or `--name=value`, no quoting needed. */
const NODE_FLAG = /^--[a-z0-9][a-z0-9-_]*(=[A-Za-z0-9._:,/+-]+)?$/;
/** `sip003 bundle --help`. */
export const BUNDLE_USAGE = [
  'Usage: sip003 bundle <entry.ts> -o <file> [--standalone [--node <version|path>] [--target <t>]]',
  '                     [--minify] [--sourcemap[=inline|external]] [--version-stamp <v>]',
  '                     [--node-options=<flags>|none]',
  '',
  'Bundles a plugin entry and all its dependencies into one CommonJS file for node >= 20. The',
  'entry is the file that calls runMain (src/main.ts), or one that exports the plugin',
  '(export default definePlugin(...)): it is then run with runMain. An entry that starts no plugin',
  '(it printed nothing for --version when tried) is refused.',
  '',
  '  -o, --outfile <file>   where to write (directories are created); also writes <file>.sha256',
  '  --standalone           a single executable that needs no node (Node SEA, about 150 MB)',
  `  --node <version|path>  the node to embed with --standalone: a version (fetched with npm as`,
  `                         node-linux-<arch>, cached) or a node binary that runs here (default: ${RELEASE_NODE_VERSION})`,
  `  --target <t>           with --standalone: ${TARGETS.join(' or ')} (default: this machine)`,
  '  --minify               minify the script',
  '  --sourcemap[=<how>]    stack traces name the .ts lines: inline (the default; the only way',
  '                         with --standalone) or external (<file>.map beside it); node runs',
  '                         the bundle with --enable-source-maps',
  '  --version-stamp <v>    the version to stamp (default: the nearest package.json version)',
  `  --node-options=<f>     node flags, space-separated, or none (default: ${DEFAULT_NODE_OPTIONS.join(' ')});`,
  '                         checked against the node that will run them',
  '  -h, --help             show this text',
  '',
  'Exit codes: 0 written, 64 usage error, 70 bundle failure.',
].join('\n');

/** The flags, in `util.parseArgs` form. */
const FLAGS = {
  outfile: { type: 'string', short: 'o' },
  node: { type: 'string' },
  target: { type: 'string' },
  'version-stamp': { type: 'string' },
  'node-options': { type: 'string' },
  standalone: { type: 'boolean' },
  minify: { type: 'boolean' },
  // A boolean to parseArgs so that a bare --sourcemap takes no value; =inline|external is read here.
  sourcemap: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
type Flag = keyof typeof FLAGS;

type Parsed = { help: true } | { help: false; options: BundleOptions };

/**
 * The flags given, last one winning. Non-strict `parseArgs` gives tokens, which we check
 * ourselves so every mistake gets a one-line message in our words.
 */
function readFlags(argv: readonly string[]) {
  const { tokens } = parseArgs({
    args: [...argv],
    options: FLAGS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Partial<Record<Flag, string>> = {};
  const flags: Partial<Record<Flag, true>> = {};
  const positionals: string[] = [];
  // The first mistake, thrown only when --help is not on the line: help wins, as it should.
  let mistake: string | undefined;
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const spec = (FLAGS as Record<string, { type: string }>)[token.name];
    const name = token.name as Flag;
    const value = token.value;
    if (spec === undefined) {
      mistake ??= `unknown flag ${JSON.stringify(token.rawName)} (see sip003 bundle --help)`;
    } else if (name === 'help') {
      help = true;
    } else if (name === 'sourcemap') {
      values.sourcemap = value ?? 'inline';
    } else if (spec.type === 'boolean') {
      if (value === undefined) flags[name] = true;
      else
        mistake ??= `${token.rawName} takes no value, got ${JSON.stringify(`${token.rawName}=${value}`)}`;
    } else if (
      value === undefined ||
      value === '' ||
      (!token.inlineValue && value.startsWith('-'))
    ) {
      // `-o --minify` is a forgotten value, not a file named "--minify".
      mistake ??= `${token.rawName} needs a value`;
    } else {
      values[name] = value;
    }
  }
  if (mistake !== undefined && !help) throw usageError(mistake);
  return { values, flags, positionals, help };
}

/** `--node-options` as a list: shell-safe flags only, since a plain bundle's header runs them. */
function nodeOptionsList(text: string): string[] {
  const list = text === 'none' ? [] : text.split(/\s+/).filter((f) => f !== '');
  const bad = list.find((f) => !NODE_FLAG.test(f));
  if (bad !== undefined) {
    throw usageError(
      `--node-options: expected node flags such as --max-semi-space-size=1, or none, got ${JSON.stringify(bad)}`,
    );
  }
  return list;
}

/** Parses the argv after `bundle`. Throws a `SIP003_USAGE` error naming the bad flag. */
export function parseBundleArgs(argv: readonly string[]): Parsed {
  const { values, flags, positionals, help } = readFlags(argv);
  if (help) return { help: true };
  const [entry, extra] = positionals;
  if (entry === undefined) throw usageError('missing <entry> (see sip003 bundle --help)');
  if (extra !== undefined) {
    throw usageError(`unexpected argument ${JSON.stringify(extra)}: one entry per bundle`);
  }
  if (values.outfile === undefined) throw usageError('missing -o <file>');
  for (const name of ['node', 'target'] as const) {
    if (values[name] !== undefined && flags.standalone !== true) {
      throw usageError(`--${name} only applies with --standalone`);
    }
  }
  const options: BundleOptions = { entry, outfile: values.outfile };
  if (flags.standalone === true) options.standalone = true;
  if (flags.minify === true) options.minify = true;
  if (values.node !== undefined) options.node = values.node;
  if (values.target !== undefined) {
    if (!(TARGETS as readonly string[]).includes(values.target)) {
      throw usageError(
        `--target: expected ${TARGETS.join(' or ')}, got ${JSON.stringify(values.target)}`,
      );
    }
    if (values.node !== undefined && !isNodeVersion(values.node)) {
      throw usageError(
        '--target needs --node <version>: a --node <path> must run here, so its arch is the target',
      );
    }
    options.target = values.target as Target;
  }
  if (values['version-stamp'] !== undefined) options.version = values['version-stamp'];
  if (values.sourcemap !== undefined) {
    if (values.sourcemap !== 'inline' && values.sourcemap !== 'external') {
      throw usageError(
        `--sourcemap: expected inline or external, got ${JSON.stringify(values.sourcemap)}`,
      );
    }
    options.sourcemap = values.sourcemap;
  }
  if (values['node-options'] !== undefined) {
    options.nodeOptions = nodeOptionsList(values['node-options']);
  }
  return { help: false, options };
}
