/**
 * A whole shape at work: entries validated against it, its `--help` lines, its values as
 * `--check` prints them and its option string as messages quote it.
 */
import { ErrorCode, OptionsError } from './errors.ts';
import { formatOptions, type OptionEntry } from './options.ts';
import type { OptionShape, OptionValues, RawOption } from './option-schema.ts';
import { commonOptions, type CommonOptions } from './schema.ts';
import { suggest } from './suggest.ts';

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
  const spellings = new Map<string, Set<string>>();
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
    const typedAs = spellings.get(key);
    if (typedAs === undefined) spellings.set(key, new Set([typed]));
    else {
      typedAs.add(typed);
      // Name the spellings only when an alias was among them: `(as obfs-host and host)`.
      const as =
        typedAs.size === 1 && typedAs.has(key) ? '' : ` (as ${[...typedAs].join(' and ')})`;
      warnings.push(`option ${key} given more than once${as}; the last one wins`);
    }
    input[key] = value ?? true;
  }
  const values: Record<string, unknown> = {};
  const errors: OptionsError[] = [];
  for (const [key, schema] of Object.entries(shape)) {
    try {
      const value = schema.read(input[key], key);
      if (value !== undefined) values[key] = value;
    } catch (error) {
      if (!(error instanceof OptionsError)) throw error;
      errors.push(error);
    }
  }
  const first = errors[0];
  if (first !== undefined)
    throw new OptionsError(
      ErrorCode.OPTION_INVALID,
      first.option,
      first.expected,
      first.received,
      errors.map((error) => error.message).join('; '),
    );
  return { values: values as OptionValues<S> & CommonOptions, warnings };
}

/**
 * Help lines generated from a shape, common options first:
 * `  pad-max  <int 0..255>  most padding bytes (default: 64)`.
 */
export function describeOptions(shape: OptionShape): string[] {
  const all = Object.entries({ ...commonOptions, ...shape });
  const nameWidth = Math.max(...all.map(([key]) => key.length));
  // One long type (a custom option's words) does not push every other line right.
  const typeWidth = Math.max(
    0,
    ...all.map(([, schema]) => schema.type.length + 2).filter((width) => width <= 24),
  );
  return all.map(([key, schema]) => {
    const notes = [
      ...(schema.required ? ['required'] : []),
      ...(schema.secret ? ['secret'] : []),
      ...(schema.defaultText === undefined ? [] : [`default: ${schema.defaultText}`]),
    ].join(', ');
    const text =
      schema.description === undefined
        ? notes
        : notes === ''
          ? schema.description
          : `${schema.description} (${notes})`;
    return `  ${key.padEnd(nameWidth)}  ${`<${schema.type}>`.padEnd(typeWidth)}  ${text}`.trimEnd();
  });
}

/** A value as `--check` prints it: bytes as hex (not `{"type":"Buffer","data":[...]}`). */
function printable(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return Array.isArray(value) ? value.map(printable) : value;
}

/** Typed options as `--check` prints them: secrets as `<secret>`, bytes as hex. */
export function redactValues(
  shape: OptionShape,
  values: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const all: OptionShape = { ...commonOptions, ...shape };
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      all[key]?.secret === true && value !== undefined ? '<secret>' : printable(value),
    ]),
  );
}

/** SS_PLUGIN_OPTIONS as a message may quote it: the values of secret options as `<secret>`. */
export function redactEntries(
  entries: readonly OptionEntry[],
  { shape, aliases = {} }: ValidateOptionsSpec<OptionShape>,
): string {
  return formatOptions(
    entries.map((entry) =>
      shape[aliases[entry.key] ?? entry.key]?.secret === true && entry.value !== null
        ? { key: entry.key, value: '<secret>' }
        : entry,
    ),
  );
}
