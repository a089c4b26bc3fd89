/**
 * The `option.*` builders plugins declare their options with, and the SDK's common options.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatEndpoint, parseEndpoint, parsePort, type Endpoint } from './address.ts';
import {
  defineOption,
  got,
  kindOf,
  reasonOf,
  type OptionSchema,
  type OptionShape,
  type OptionSpec,
  type OptionValues,
  type SpecValue,
} from './option-schema.ts';

export type {
  OptionSchema,
  OptionShape,
  OptionSpec,
  OptionValues,
  RawOption,
  SpecValue,
} from './option-schema.ts';

export interface IntSpec extends OptionSpec<number> {
  min?: number;
  max?: number;
}
export interface StringSpec extends OptionSpec<string> {
  nonEmpty?: boolean;
  /** Most characters. */
  max?: number;
  pattern?: RegExp;
  /** What errors say was expected, when `pattern` needs words (`a host name without spaces`). */
  expected?: string;
}
export interface BytesSpec extends OptionSpec<Buffer> {
  /** Exactly this many bytes (after decoding). */
  length?: number;
  min?: number;
  max?: number;
}
export interface ListSpec<T> extends OptionSpec<T[]> {
  /** Fewest and most items. */
  min?: number;
  max?: number;
}
export interface CustomSpec<T> extends OptionSpec<T> {
  /** What the value must be, for errors and `--help`: `a CRC name (crc32 or crc32c)`. */
  expected: string;
}

const TRUE = new Set(['', '1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function number(text: string, integer: boolean): number | undefined {
  if (!(integer ? /^-?[0-9]+$/ : /^-?[0-9]+(\.[0-9]+)?$/).test(text.trim())) return undefined;
  return Number(text);
}

/** ` 0..255`, ` >= 1`, ` <= 9` or nothing, for a type column. */
function bounds(min: number | undefined, max: number | undefined, unit = ''): string {
  if (min !== undefined && max !== undefined) return `${min}..${max}${unit}`;
  if (min !== undefined) return `>= ${min}${unit}`;
  return max === undefined ? '' : `<= ${max}${unit}`;
}

/** A byte string typed as hex, base64 or UTF-8 text, with an optional exact or bounded length. */
function bytesOption<S extends BytesSpec>(
  encoding: 'hex' | 'base64' | 'utf8',
  spec: S | undefined,
): OptionSchema<SpecValue<Buffer, S>> {
  const { length, min, max } = spec ?? {};
  const size =
    length !== undefined
      ? `${length} bytes`
      : min !== undefined && max !== undefined
        ? `${min} to ${max} bytes`
        : min !== undefined
          ? `at least ${min} bytes`
          : max !== undefined
            ? `at most ${max} bytes`
            : '';
  const range = length !== undefined ? `${length} bytes` : bounds(min, max, ' bytes');
  const name = encoding === 'utf8' ? 'text' : encoding;
  const expected =
    encoding === 'utf8'
      ? size === ''
        ? 'text'
        : `text of ${size} (UTF-8)`
      : `${size === '' ? 'bytes' : size} in ${encoding}`;
  return defineOption<Buffer, S>(
    {
      type: range === '' ? name : `${name}, ${range}`,
      expected,
      convert(raw) {
        if (raw === true) return undefined;
        let bytes: Buffer;
        if (encoding === 'hex') {
          if (!/^[0-9a-fA-F]*$/.test(raw)) throw new Error('not hex digits');
          if (raw.length % 2 !== 0) throw new Error('an odd number of hex digits');
          bytes = Buffer.from(raw, 'hex');
        } else if (encoding === 'base64') {
          // Standard or URL-safe alphabet; padding optional, but right when present.
          const ok =
            /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/.test(raw) &&
            (raw.endsWith('=') ? raw.length % 4 === 0 : raw.length % 4 !== 1);
          if (!ok) throw new Error('not base64');
          bytes = Buffer.from(raw, 'base64');
        } else {
          bytes = Buffer.from(raw, 'utf8');
        }
        const n = bytes.length;
        if (
          (length !== undefined && n !== length) ||
          (min !== undefined && n < min) ||
          (max !== undefined && n > max)
        )
          throw new Error(`${n} bytes`);
        return bytes;
      },
      show: (value) => value.toString(encoding),
    },
    spec,
  );
}

/**
 * Builders for option declarations. Each reads the tokenizer's raw text into a typed value with a
 * one-line error (`pad-max: expected an integer from 0 to 255, got "300"`), and carries what
 * `--help` shows. Every builder takes `description`, `default`, `required` and `secret`.
 */
export const option = {
  /** A bare flag (`server`), or `=true|false|1|0|yes|no|on|off`. Defaults to false. */
  flag(spec: { description?: string } = {}): OptionSchema<boolean> {
    return defineOption(
      {
        type: 'flag',
        expected: 'a bare flag or one of true, false, 1, 0, yes, no, on, off',
        convert: (v) =>
          v === true || TRUE.has(v.toLowerCase())
            ? true
            : FALSE.has(v.toLowerCase())
              ? false
              : undefined,
        show: (on) => (on ? 'on' : 'off'),
      },
      { ...spec, default: false },
    );
  },
  /** Text. `nonEmpty` refuses `key=` and a bare flag; `max` caps the length. */
  string<const S extends StringSpec>(spec?: S): OptionSchema<SpecValue<string, S>> {
    const { nonEmpty = false, max, pattern } = spec ?? {};
    const expected =
      spec?.expected ??
      (nonEmpty ? 'a non-empty value' : 'a value') +
        (max === undefined ? '' : ` of at most ${max} characters`);
    const range = bounds(nonEmpty ? 1 : undefined, max, ' chars');
    return defineOption<string, S>(
      {
        type: range === '' ? 'text' : `text, ${range}`,
        expected,
        convert(v) {
          if (v === true) return nonEmpty ? undefined : '';
          if (nonEmpty && v === '') return undefined;
          if (max !== undefined && v.length > max) return undefined;
          if (pattern !== undefined && !pattern.test(v)) return undefined;
          return v;
        },
        show: (v) => (v === '' ? '""' : v),
      },
      spec,
    );
  },
  /** One of a fixed set of words, compared exactly (simple-obfs is case-sensitive too). */
  enum<const V extends readonly [string, ...string[]], const S extends OptionSpec<V[number]>>(
    values: V,
    spec?: S,
  ): OptionSchema<SpecValue<V[number], S>> {
    return defineOption<V[number], S>(
      {
        type: values.join('|'),
        expected: `one of ${values.join(', ')}`,
        convert: (v) => (v !== true && (values as readonly string[]).includes(v) ? v : undefined),
      },
      spec,
    );
  },
  /** A whole number within [min, max]. */
  int<const S extends IntSpec>(spec?: S): OptionSchema<SpecValue<number, S>> {
    const min = spec?.min ?? Number.MIN_SAFE_INTEGER;
    const max = spec?.max ?? Number.MAX_SAFE_INTEGER;
    const range = bounds(spec?.min, spec?.max);
    return defineOption<number, S>(
      {
        type: range === '' ? 'int' : `int ${range}`,
        expected: `an integer from ${min} to ${max}`,
        convert(v) {
          const n = v === true ? undefined : number(v, true);
          return n !== undefined && n >= min && n <= max ? n : undefined;
        },
      },
      spec,
    );
  },
  /** A TCP port, 1 to 65535. */
  port<const S extends OptionSpec<number>>(spec?: S): OptionSchema<SpecValue<number, S>> {
    return defineOption<number, S>(
      {
        type: 'port',
        expected: 'a port from 1 to 65535',
        convert: (v) => (v === true ? undefined : parsePort(v)),
      },
      spec,
    );
  },
  /** A duration in seconds (decimals allowed) within [min, max]; yields seconds. */
  seconds<const S extends IntSpec>(spec?: S): OptionSchema<SpecValue<number, S>> {
    const min = spec?.min ?? 0;
    const max = spec?.max ?? 86_400;
    return defineOption<number, S>(
      {
        type: `seconds ${bounds(min, max)}`,
        expected: `a number of seconds from ${min} to ${max}`,
        convert(v) {
          const n = v === true ? undefined : number(v, false);
          return n !== undefined && n >= min && n <= max ? n : undefined;
        },
      },
      spec,
    );
  },
  /** `host:port` or `[v6]:port`; the port is mandatory. */
  endpoint<const S extends OptionSpec<Endpoint>>(spec?: S): OptionSchema<SpecValue<Endpoint, S>> {
    return defineOption<Endpoint, S>(
      {
        type: 'host:port',
        expected: 'host:port (IPv6 as [addr]:port)',
        convert: (v) => (v === true ? undefined : parseEndpoint(v)),
        show: formatEndpoint,
      },
      spec,
    );
  },
  /** Bytes written in hex (`a0b1...`); yields a Buffer. `length`, `min`, `max` count bytes. */
  hex<const S extends BytesSpec>(spec?: S): OptionSchema<SpecValue<Buffer, S>> {
    return bytesOption('hex', spec);
  },
  /** Bytes written in base64 (standard or URL-safe, padding optional); yields a Buffer. */
  base64<const S extends BytesSpec>(spec?: S): OptionSchema<SpecValue<Buffer, S>> {
    return bytesOption('base64', spec);
  },
  /** Text taken as its UTF-8 bytes (a passphrase used as a key); yields a Buffer. */
  bytes<const S extends BytesSpec>(spec?: S): OptionSchema<SpecValue<Buffer, S>> {
    return bytesOption('utf8', spec);
  },
  /**
   * Comma-separated items, each read by `item` (`option.list(option.port())` reads `80,443`).
   * Items are not trimmed and cannot contain a comma; `key=` is the empty list.
   */
  list<T, const S extends ListSpec<Exclude<T, undefined>>>(
    item: OptionSchema<T>,
    spec?: S,
  ): OptionSchema<SpecValue<Exclude<T, undefined>[], S>> {
    const inner = kindOf(item);
    if (inner === undefined)
      throw new TypeError('option.list: the item must be an option.* schema');
    const { min, max } = spec ?? {};
    const count = bounds(min, max, ' items');
    const secret = spec?.secret ?? item.secret;
    const show = inner.show ?? String;
    return defineOption<Exclude<T, undefined>[], S>(
      {
        type: `${inner.type},...`,
        expected: `a comma-separated list of <${inner.type}>${count === '' ? '' : ` (${count})`}`,
        convert(v) {
          if (v === true) return undefined;
          const items = v === '' ? [] : v.split(',');
          if (
            (min !== undefined && items.length < min) ||
            (max !== undefined && items.length > max)
          )
            throw new Error(`${items.length} items`);
          return items.map((text, i) => {
            let value: Exclude<T, undefined> | undefined;
            let reason = '';
            try {
              value = inner.convert(text);
            } catch (error) {
              reason = reasonOf(error);
            }
            if (value !== undefined) return value;
            throw new Error(
              `item ${i + 1}: expected ${inner.expected}${secret ? '' : `, ${got(text, false)}`}${reason === '' ? '' : `, ${reason}`}`,
            );
          });
        },
        show: (values) => values.map(show).join(','),
      },
      { ...spec, secret } as S,
    );
  },
  /**
   * A path to a file that exists and can be read when the options are checked. Yields the
   * absolute path (not the contents: the plugin reads it when and as it needs, and a key file
   * stays out of `--check`).
   */
  file<const S extends OptionSpec<string>>(spec?: S): OptionSchema<SpecValue<string, S>> {
    return defineOption<string, S>(
      {
        type: 'file',
        expected: 'a readable file',
        convert(v) {
          if (v === true || v === '') return undefined;
          const path = resolve(v);
          let isFile: boolean;
          try {
            isFile = statSync(path).isFile();
          } catch {
            throw new Error('no such file');
          }
          if (!isFile) throw new Error('not a regular file');
          try {
            accessSync(path, constants.R_OK);
          } catch {
            throw new Error('not readable');
          }
          return path;
        },
      },
      spec,
    );
  },
  /**
   * Any other type, without zod: `parse(text)` returns the value, or throws (its message is
   * added to the error) or returns undefined when the text is not acceptable. A bare flag is
   * refused before `parse`. Errors read like the built-in ones: `key: expected <expected>,
   * got "x" (why)`; for a `secret` option the value and parse's message are left out.
   */
  custom<T, const S extends CustomSpec<T>>(
    parse: (text: string) => T | undefined,
    spec: S,
  ): OptionSchema<SpecValue<T, S>> {
    return defineOption<T, S>(
      {
        type: spec.expected,
        expected: spec.expected,
        convert(v) {
          if (v === true) return undefined;
          try {
            return parse(v);
          } catch (error) {
            // A secret's own parser may quote it: say only that it was refused.
            if (spec.secret === true) return undefined;
            throw error;
          }
        },
        show: (value) =>
          typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value),
      },
      spec,
    );
  },
} as const;

/** The options every plugin gets from the SDK. Plugins cannot redeclare these names. */
export const commonOptions = {
  server: option.flag({
    description: 'run as the server-side plugin (listen on SS_REMOTE, dial SS_LOCAL)',
  }),
  'log-level': option.enum(['error', 'warn', 'info', 'debug'], {
    description: 'log level (default: info, or SIP003_LOG_LEVEL)',
  }),
  'connect-timeout': option.seconds({
    min: 0.1,
    max: 600,
    default: 10,
    description: 'seconds allowed for dialing',
  }),
  'handshake-timeout': option.seconds({
    min: 0.1,
    max: 3600,
    default: 60,
    description: 'seconds from accept until the first byte is forwarded',
  }),
  'idle-timeout': option.seconds({
    min: 0,
    max: 86_400,
    default: 600,
    description:
      'seconds without traffic in either direction before a connection is closed (0 = never)',
  }),
  'drain-timeout': option.seconds({
    min: 0,
    max: 600,
    default: 1,
    description: 'seconds open connections may finish after SIGTERM/SIGINT',
  }),
  'max-connections': option.int({
    min: 1,
    max: 1_000_000,
    default: 8192,
    description: 'most connections open at once; more are refused',
  }),
  workers: option.int({
    min: 1,
    max: 64,
    default: 1,
    description: 'server: worker processes sharing the listening sockets',
  }),
} satisfies OptionShape;
export type CommonOptions = OptionValues<typeof commonOptions>;
