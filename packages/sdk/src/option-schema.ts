/**
 * What an option declaration is: the {@link OptionSchema} every `option.*` builder returns, and
 * the one function that makes one from a kind of value (how to read and show it) and the
 * settings all options share (description, default, required, secret).
 */
// zod/mini, not `zod`: its functions tree-shake, where the classic namespace drags every locale
// and the JSON-schema code into each bundle (a 20-line plugin was 800 KiB). The messages are ours.
import * as z from 'zod/mini';
import { ErrorCode, OptionsError } from './errors.ts';

/** What the tokenizer hands a schema: a value, or `true` for a bare flag. */
export type RawOption = string | true;

/**
 * One option's declaration, made by an `option.*` builder: how its raw text is read, and what
 * `--help`, `--check` and error messages say about it.
 */
export interface OptionSchema<T = unknown> {
  /** The type column of `--help`, without brackets: `int 0..255`, `http|tls`, `hex, 16 bytes`. */
  readonly type: string;
  /** What an error says was expected: `an integer from 0 to 255`. */
  readonly expected: string;
  readonly description: string | undefined;
  /** The default as `--help` shows it; undefined when there is none. */
  readonly defaultText: string | undefined;
  /** Leaving the option out is an error. */
  readonly required: boolean;
  /** `--check` and messages print the value as `<secret>`. */
  readonly secret: boolean;
  /** Reads one raw value (undefined: not given); throws an OptionsError naming `name`. */
  read(raw: RawOption | undefined, name: string): T;
}
/** A plugin's option declarations, keyed by the name users type (`obfs-host`). */
export type OptionShape = Record<string, OptionSchema>;
/** The typed options a shape yields. */
export type OptionValues<S extends OptionShape> = {
  -readonly [K in keyof S]: S[K] extends OptionSchema<infer T> ? T : never;
};

/** What every builder takes besides its own settings. */
export interface OptionSpec<T> {
  /** One line for `--help`. */
  description?: string;
  /** The value when the option is not given. */
  default?: T;
  /** Not given is a configuration error (exit 2) naming the option. No default then. */
  required?: boolean;
  /** Printed as `<secret>` by `--check` and in messages that quote values. */
  secret?: boolean;
}
/** A builder's value type: `T` when the option has a default or is required, else `T | undefined`. */
export type SpecValue<T, S> = S extends { required: true }
  ? T
  : S extends { default: unknown }
    ? T
    : T | undefined;

/** How a builder reads and shows its kind of value. */
export interface OptionKind<T> {
  type: string;
  expected: string;
  /** The typed value, or undefined when `raw` is not one; a thrown message says why, briefly. */
  convert: (raw: RawOption) => T | undefined;
  /** A value as `--help` shows it (a default, list items). */
  show?: (value: T) => string;
}
// The kind behind each schema, for builders that wrap another (list).
const kinds = new WeakMap<OptionSchema, OptionKind<unknown>>();

/** The kind `schema` was made of; undefined for an object no builder made. */
export function kindOf<T>(schema: OptionSchema<T>): OptionKind<Exclude<T, undefined>> | undefined {
  return kinds.get(schema) as OptionKind<Exclude<T, undefined>> | undefined;
}

/** `got "x"`, `got a bare flag` or `got <secret>` for messages. */
export function got(value: unknown, secret: boolean): string {
  if (value === true) return 'got a bare flag';
  return secret ? 'got <secret>' : `got ${JSON.stringify(value)}`;
}

/** The first line of what was thrown, short enough for a one-line message. */
export function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? '').slice(0, 200);
}

/** Defaults are shared by every read; a Buffer or array is handed out as a copy. */
function copyOf<T>(value: T): T {
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  return (Array.isArray(value) ? [...(value as unknown[])] : value) as T;
}

const rawValue = z.union([z.string(), z.literal(true)]);

/** A schema of `kind` with the common settings of `spec`; zod runs the reading. */
export function defineOption<T, S extends OptionSpec<T>>(
  kind: OptionKind<T>,
  spec: S | undefined,
): OptionSchema<SpecValue<T, S>> {
  const { description, default: fallback, required = false, secret = false } = spec ?? {};
  if (required && fallback !== undefined)
    throw new TypeError('option: an option with a default cannot also be required');
  const converted = z.pipe(
    rawValue,
    z.transform((value: RawOption, ctx) => {
      let result: T | undefined;
      let reason = '';
      try {
        result = kind.convert(value);
      } catch (error) {
        reason = reasonOf(error);
      }
      if (result !== undefined) return result;
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: `expected ${kind.expected}, ${got(value, secret)}${reason === '' ? '' : ` (${reason})`}`,
      });
      return z.NEVER;
    }),
  );
  const engine =
    fallback !== undefined
      ? z._default(converted, () => copyOf(fallback) as never)
      : required
        ? converted
        : z.optional(converted);
  const show = kind.show ?? String;
  const schema: OptionSchema<SpecValue<T, S>> = Object.freeze({
    type: kind.type,
    expected: kind.expected,
    description,
    defaultText: fallback === undefined ? undefined : secret ? '<secret>' : show(fallback),
    required,
    secret,
    read(value: RawOption | undefined, name: string): SpecValue<T, S> {
      const result = engine.safeParse(value);
      if (result.success) return result.data as SpecValue<T, S>;
      const issue = result.error.issues[0];
      const message =
        value === undefined
          ? `required, expected ${kind.expected}, got nothing`
          : issue?.code === 'custom'
            ? issue.message
            : `expected ${kind.expected}, ${got(value, secret)}`;
      throw new OptionsError(
        ErrorCode.OPTION_INVALID,
        name,
        kind.expected,
        value === undefined ? undefined : secret ? '<secret>' : value === true ? '' : value,
        `${name}: ${message}`,
      );
    },
  });
  kinds.set(schema, kind as OptionKind<unknown>);
  return schema;
}
