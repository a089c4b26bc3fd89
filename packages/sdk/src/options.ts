import { ErrorCode, OptionsError } from './errors.ts';

/** One `key[=value]` item of SS_PLUGIN_OPTIONS. `value` is null for a bare flag (`server`). */
export interface OptionEntry {
  readonly key: string;
  readonly value: string | null;
}

/**
 * Splits SS_PLUGIN_OPTIONS into entries, in order, duplicates kept.
 *
 * SIP003: "semicolons, equal signs and backslashes MUST be escaped with a backslash". A reader
 * must also accept SIP002's `\:` and Tor's escapes, so `\x` stands for a literal `x` for any `x`.
 * Items split on unescaped `;`; empty items are skipped; key and value split on the first
 * unescaped `=` (later `=` belong to the value); an item without `=` is a flag. A dangling `\`
 * and an empty key are errors that give the position and the option's name, never the text:
 * any value in it may be a secret, and secrets are known only to the plugin's declarations.
 */
export function parseOptions(text: string): OptionEntry[] {
  const entries: OptionEntry[] = [];
  let key = '';
  let value: string | null = null;
  let itemStart = 0;
  let start = 0; // index where the current run of plain characters began
  let i = 0;
  const finishItem = (end: number): void => {
    if (value === null) key += text.slice(start, end);
    else value += text.slice(start, end);
    if (key === '' && value === null) {
      // Empty item (`;;`, a leading or trailing `;`): harmless, as in every deployed host.
    } else if (key === '') {
      throw new OptionsError(
        ErrorCode.OPTION_SYNTAX,
        'SS_PLUGIN_OPTIONS',
        'key=value',
        '',
        `SS_PLUGIN_OPTIONS: empty option name before "=" at position ${itemStart + 1} of ${text.length} (write key=value)`,
      );
    } else {
      entries.push({ key, value });
    }
    key = '';
    value = null;
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      if (i + 1 >= text.length) {
        const where =
          value === null
            ? `the option name ${JSON.stringify(key + text.slice(start, i))}`
            : `the value of ${JSON.stringify(key)}`;
        throw new OptionsError(
          ErrorCode.OPTION_SYNTAX,
          'SS_PLUGIN_OPTIONS',
          'a character after "\\"',
          '\\',
          `SS_PLUGIN_OPTIONS: dangling "\\" at position ${i + 1}, the end of ${where} (escape it as "\\\\")`,
        );
      }
      const escaped = text.slice(start, i) + text.charAt(i + 1);
      if (value === null) key += escaped;
      else value += escaped;
      i += 2;
      start = i;
    } else if (c === 0x3b /* ; */) {
      finishItem(i);
      i += 1;
      start = i;
      itemStart = i;
    } else if (c === 0x3d /* = */ && value === null) {
      key += text.slice(start, i);
      value = '';
      i += 1;
      start = i;
    } else {
      i += 1;
    }
  }
  finishItem(text.length);
  return entries;
}

/** Characters a writer escapes. `:` is added for SIP002 `plugin=` values. */
const ESCAPE = /[\\;=]/g;
const ESCAPE_SIP002 = /[\\;=:]/g;

/** Escapes a key or value for SS_PLUGIN_OPTIONS. */
export function escapeOption(text: string, sip002 = false): string {
  return text.replace(sip002 ? ESCAPE_SIP002 : ESCAPE, (c) => `\\${c}`);
}

/**
 * The inverse of {@link parseOptions}: `formatOptions(parseOptions(s))` reads back to the same
 * entries. Accepts entries or a plain object (`true` = flag, `false`/undefined = left out).
 */
export function formatOptions(
  options:
    readonly OptionEntry[] | Readonly<Record<string, string | number | boolean | null | undefined>>,
  { sip002 = false }: { sip002?: boolean } = {},
): string {
  const entries: OptionEntry[] = Array.isArray(options)
    ? (options as readonly OptionEntry[]).slice()
    : Object.entries(options).flatMap(([key, v]) =>
        v === undefined || v === false
          ? []
          : [{ key, value: v === true || v === null ? null : String(v) }],
      );
  return entries
    .map(({ key, value }) => {
      if (key === '') throw new RangeError('formatOptions: an option name cannot be empty');
      const k = escapeOption(key, sip002);
      return value === null ? k : `${k}=${escapeOption(value, sip002)}`;
    })
    .join(';');
}
