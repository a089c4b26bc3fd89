import { z } from 'zod';
import { ErrorCode, OptionsError } from './errors.ts';
import { parseEndpoint, type Endpoint } from './address.ts';
import type { OptionEntry } from './options.ts';

/** What the tokenizer hands a schema: a value, or `true` for a bare flag. */
export type RawOption = string | true;
/** A zod schema for one option: reads a raw value, yields a typed one. */
export type OptionSchema<T = unknown> = z.ZodType<T, RawOption | undefined>;
/** A plugin's option declarations, keyed by the name users type (`obfs-host`). */
export type OptionShape = Record<string, OptionSchema>;
/** The typed options a shape yields. */
export type OptionValues<S extends OptionShape> = { -readonly [K in keyof S]: z.output<S[K]> };

const raw = z.union([z.string(), z.literal(true)]);

/** "got \"x\"" or "got a bare flag" for messages. */
function got(value: RawOption): string {
  return value === true ? 'got a bare flag' : `got ${JSON.stringify(value)}`;
}

function parsed<T>(
  expected: string,
  convert: (value: RawOption) => T | undefined,
): z.ZodType<T, RawOption> {
  return raw.transform((value, ctx) => {
    const result = convert(value);
    if (result === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}, ${got(value)}` });
      return z.NEVER;
    }
    return result;
  });
}

/** Applies a default (the option becomes non-optional) or marks the option optional. */
function withDefault<T, D extends T | undefined>(
  schema: z.ZodType<T, RawOption>,
  fallback: D,
): OptionSchema<undefined extends D ? T | undefined : T> {
  return (fallback === undefined ? schema.optional() : schema.default(fallback as never)) as never;
}

const TRUE = new Set(['', '1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function number(text: string, integer: boolean): number | undefined {
  if (!(integer ? /^-?[0-9]+$/ : /^-?[0-9]+(\.[0-9]+)?$/).test(text.trim())) return undefined;
  return Number(text);
}

/** Builders for option schemas. Each accepts the tokenizer's raw value and has a readable error. */
export const option = {
  /** A bare flag (`server`), or `=true|false|1|0|yes|no|on|off`. Defaults to false. */
  flag(): OptionSchema<boolean> {
    return parsed('a bare flag or one of true, false, 1, 0, yes, no, on, off', (v) =>
      v === true
        ? true
        : TRUE.has(v.toLowerCase())
          ? true
          : FALSE.has(v.toLowerCase())
            ? false
            : undefined,
    ).default(false);
  },
  /** Text. `nonEmpty` refuses `key=` and a bare flag; `max` caps the length. */
  string<D extends string | undefined = undefined>(
    spec: {
      default?: D;
      nonEmpty?: boolean;
      max?: number;
      pattern?: RegExp;
      expected?: string;
    } = {},
  ) {
    const expected =
      spec.expected ??
      (spec.nonEmpty === true ? 'a non-empty value' : 'a value') +
        (spec.max === undefined ? '' : ` of at most ${spec.max} characters`);
    const schema = parsed(expected, (v) => {
      if (v === true) return spec.nonEmpty === true ? undefined : '';
      if (spec.nonEmpty === true && v === '') return undefined;
      if (spec.max !== undefined && v.length > spec.max) return undefined;
      if (spec.pattern !== undefined && !spec.pattern.test(v)) return undefined;
      return v;
    });
    return withDefault(schema, spec.default as D);
  },
  /** One of a fixed set of words, compared exactly (simple-obfs is case-sensitive too). */
  enum<const V extends readonly [string, ...string[]], D extends V[number] | undefined = undefined>(
    values: V,
    spec: { default?: D } = {},
  ) {
    const schema = parsed<V[number]>(`one of ${values.join(', ')}`, (v) =>
      v !== true && (values as readonly string[]).includes(v) ? v : undefined,
    );
    return withDefault(schema, spec.default as D);
  },
  /** A whole number within [min, max]. */
  int<D extends number | undefined = undefined>(
    spec: { min?: number; max?: number; default?: D } = {},
  ) {
    const min = spec.min ?? Number.MIN_SAFE_INTEGER;
    const max = spec.max ?? Number.MAX_SAFE_INTEGER;
    const schema = parsed(`an integer from ${min} to ${max}`, (v) => {
      const n = v === true ? undefined : number(v, true);
      return n !== undefined && n >= min && n <= max ? n : undefined;
    });
    return withDefault(schema, spec.default as D);
  },
  /** A duration in seconds (decimals allowed) within [min, max]; yields seconds. */
  seconds<D extends number | undefined = undefined>(
    spec: { min?: number; max?: number; default?: D } = {},
  ) {
    const min = spec.min ?? 0;
    const max = spec.max ?? 86_400;
    const schema = parsed(`a number of seconds from ${min} to ${max}`, (v) => {
      const n = v === true ? undefined : number(v, false);
      return n !== undefined && n >= min && n <= max ? n : undefined;
    });
    return withDefault(schema, spec.default as D);
  },
  /** `host:port` or `[v6]:port`; the port is mandatory. */
  endpoint() {
    return parsed<Endpoint>('host:port (IPv6 as [addr]:port)', (v) =>
      v === true ? undefined : parseEndpoint(v),
    ).optional();
  },
} as const;

/** The options every plugin gets from the SDK. Plugins cannot redeclare these names. */
export const commonOptions = {
  server: option
    .flag()
    .describe('run as the server-side plugin (listen on SS_REMOTE, dial SS_LOCAL)'),
  'log-level': option
    .enum(['error', 'warn', 'info', 'debug'])
    .describe('log level (default info, or SIP003_LOG_LEVEL)'),
  'connect-timeout': option
    .seconds({ min: 0.1, max: 600, default: 10 })
    .describe('seconds allowed for dialing'),
  'handshake-timeout': option
    .seconds({ min: 0.1, max: 3600, default: 60 })
    .describe('seconds from accept until the first byte is forwarded'),
  'idle-timeout': option
    .seconds({ min: 0, max: 86_400, default: 600 })
    .describe(
      'seconds without traffic in either direction before a connection is closed (0 = never)',
    ),
  'drain-timeout': option
    .seconds({ min: 0, max: 600, default: 1 })
    .describe('seconds open connections may finish after SIGTERM/SIGINT'),
  'max-connections': option
    .int({ min: 1, max: 1_000_000, default: 8192 })
    .describe('most connections open at once; more are refused'),
  workers: option
    .int({ min: 1, max: 64, default: 1 })
    .describe('server: worker processes sharing the listening sockets'),
} satisfies OptionShape;
export type CommonOptions = OptionValues<typeof commonOptions>;

/** Keys hosts add by themselves: accepted with one warning each, then ignored. */
export const HOST_ADDED_OPTIONS: Readonly<Record<string, string>> = {
  __android_vpn: 'Android VPN mode needs socket protection, which a Node plugin cannot do; ignored',
  'fast-open': 'TCP Fast Open is not available to Node plugins; ignored',
  fastOpen: 'TCP Fast Open is not available to Node plugins; ignored',
};

export interface ValidateOptionsSpec<S extends OptionShape> {
  shape: S;
  /** Other spellings users type: `{ t: 'idle-timeout', fastOpen: 'fast-open' }`. */
  aliases?: Readonly<Record<string, string>>;
  /** More keys to accept with a warning (e.g. simple-obfs's `mptcp`): key → reason. */
  tolerated?: Readonly<Record<string, string>>;
}

export interface ValidatedOptions<S extends OptionShape> {
  values: OptionValues<S> & CommonOptions;
  warnings: string[];
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min(
        (row[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

/** The closest known name, if it is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const score = norm(k) === norm(name) ? 0 : distance(name.toLowerCase(), k.toLowerCase());
    if (score < bestScore) {
      best = k;
      bestScore = score;
    }
  }
  // One- and two-letter names are too short for an edit distance to mean anything.
  const allowed = name.length < 3 ? 0 : Math.max(1, Math.floor(name.length / 3));
  return best !== undefined && bestScore <= allowed ? best : undefined;
}

/**
 * Validates parsed entries against a plugin's shape plus {@link commonOptions}. Unknown keys are
 * an error with a suggestion; host-added keys produce one warning; a repeated key keeps the last
 * value, with a warning. All problems are joined on one line.
 */
export function validateOptions<S extends OptionShape>(
  entries: readonly OptionEntry[],
  spec: ValidateOptionsSpec<S>,
): ValidatedOptions<S> {
  const shape: OptionShape = { ...commonOptions, ...spec.shape };
  const aliases = spec.aliases ?? {};
  const tolerated = { ...HOST_ADDED_OPTIONS, ...spec.tolerated };
  const known = Object.keys(shape);
  const warnings: string[] = [];
  const input: Record<string, RawOption> = {};
  const seen = new Map<string, string>();
  for (const { key: typed, value } of entries) {
    const key = aliases[typed] ?? typed;
    if (!(key in shape)) {
      const reason = tolerated[typed];
      if (reason !== undefined) {
        warnings.push(`option ${typed}: ${reason}`);
        continue;
      }
      const hint = suggest(typed, [...known, ...Object.keys(aliases), ...Object.keys(tolerated)]);
      throw new OptionsError(
        ErrorCode.OPTION_UNKNOWN,
        typed,
        'a known option',
        value ?? undefined,
        `unknown option ${JSON.stringify(typed)}` +
          (hint === undefined ? '' : `; did you mean ${JSON.stringify(aliases[hint] ?? hint)}?`) +
          ` (known: ${known.join(', ')})`,
      );
    }
    const previous = seen.get(key);
    if (previous !== undefined)
      warnings.push(
        `option ${key} given more than once (as ${previous} and ${typed}); the last one wins`,
      );
    seen.set(key, typed);
    input[key] = value ?? true;
  }
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    const first = result.error.issues[0];
    const key = String(first?.path[0] ?? 'SS_PLUGIN_OPTIONS');
    const message = result.error.issues
      .map((issue) => `${String(issue.path[0] ?? 'SS_PLUGIN_OPTIONS')}: ${issue.message}`)
      .join('; ');
    const received = input[key];
    throw new OptionsError(
      ErrorCode.OPTION_INVALID,
      key,
      first?.message ?? 'a valid value',
      received === true ? '' : received,
      message,
    );
  }
  return { values: result.data as OptionValues<S> & CommonOptions, warnings };
}

/** Help lines generated from a shape: `  key  description (default: x)`. */
export function describeOptions(shape: OptionShape): string[] {
  const all: OptionShape = { ...commonOptions, ...shape };
  const width = Math.max(...Object.keys(all).map((k) => k.length));
  return Object.entries(all).map(([key, schema]) => {
    let fallback: unknown;
    const probe = schema.safeParse(undefined);
    if (probe.success) fallback = probe.data;
    const def =
      fallback === undefined || fallback === false
        ? ''
        : ` (default: ${typeof fallback === 'object' ? JSON.stringify(fallback) : (fallback as string | number).toString()})`;
    return `  ${key.padEnd(width)}  ${schema.description ?? ''}${def}`;
  });
}
