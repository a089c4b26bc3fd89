import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it, expect } from 'vitest';
import { parseOptions, formatOptions, escapeOption, type OptionEntry } from '../src/options.ts';
import { vectorsDir } from './helpers.ts';

const e = (key: string, value: string | null = null): OptionEntry => ({ key, value });

describe('parseOptions', () => {
  it.each<[string, OptionEntry[]]>([
    ['', []],
    ['obfs=http', [e('obfs', 'http')]],
    ['obfs=http;obfs-host=www.bing.com', [e('obfs', 'http'), e('obfs-host', 'www.bing.com')]],
    ['server', [e('server')]],
    ['server;obfs=tls', [e('server'), e('obfs', 'tls')]],
    ['k=', [e('k', '')]],
    ['k=;j', [e('k', ''), e('j')]],
    ['a=b=c', [e('a', 'b=c')]],
    ['a\\=b=c', [e('a=b', 'c')]],
    ['host=a\\;b.com', [e('host', 'a;b.com')]],
    ['host=a\\\\;b', [e('host', 'a\\'), e('b')]],
    ['host=a\\\\b.com', [e('host', 'a\\b.com')]],
    ['host=a\\:b.com', [e('host', 'a:b.com')]],
    ['x=\\q', [e('x', 'q')]],
    [';;a=1;;', [e('a', '1')]],
    [';obfs=http', [e('obfs', 'http')]],
    ['obfs=http;', [e('obfs', 'http')]],
    ['a=1;a=2', [e('a', '1'), e('a', '2')]],
    [' a = 1 ', [e(' a ', ' 1 ')]],
    ['k=line\nbreak', [e('k', 'line\nbreak')]],
    ['k="quoted"', [e('k', '"quoted"')]],
    ['ключ=значение;ü', [e('ключ', 'значение'), e('ü')]],
  ])('%j', (input, expected) => {
    expect(parseOptions(input)).toEqual(expected);
  });

  it('has no cap on the number of items (simple-obfs drops the 17th and later)', () => {
    const input = Array.from({ length: 100 }, (_, i) => `k${i}=v${i}`).join(';');
    const entries = parseOptions(input);
    expect(entries).toHaveLength(100);
    expect(entries[99]).toEqual(e('k99', 'v99'));
  });

  it.each([
    [
      'a=b\\',
      'SS_PLUGIN_OPTIONS: dangling "\\" at position 4, the end of the value of "a" (escape it as "\\\\")',
    ],
    [
      '\\',
      'SS_PLUGIN_OPTIONS: dangling "\\" at position 1, the end of the option name "" (escape it as "\\\\")',
    ],
    [
      'obfs=http;obfs-host=x\\',
      'SS_PLUGIN_OPTIONS: dangling "\\" at position 22, the end of the value of "obfs-host" (escape it as "\\\\")',
    ],
    [
      'obfs=http;fl\\;ag\\',
      'SS_PLUGIN_OPTIONS: dangling "\\" at position 17, the end of the option name "fl;ag" (escape it as "\\\\")',
    ],
    ['=v', 'SS_PLUGIN_OPTIONS: empty option name before "=" at position 1 of 2 (write key=value)'],
    [
      'a=1;=v',
      'SS_PLUGIN_OPTIONS: empty option name before "=" at position 5 of 6 (write key=value)',
    ],
  ])('rejects %j with its position', (input, message) => {
    expect(() => parseOptions(input)).toThrow(
      expect.objectContaining({ message, code: 'SIP003_OPTION_SYNTAX' }),
    );
  });

  it('never quotes the text of a malformed list: any value in it may be a secret', () => {
    for (const input of ['key=s3cr3t;tag=x\\', 'key=s3cr3t;=v']) {
      expect(() => parseOptions(input)).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining('s3cr3t') as unknown }),
      );
    }
  });
});

describe('formatOptions', () => {
  it('escapes ; = \\ and writes flags bare', () => {
    expect(
      formatOptions({ server: true, 'obfs-host': 'a;b=c\\d', off: false, skip: undefined, n: 3 }),
    ).toBe('server;obfs-host=a\\;b\\=c\\\\d;n=3');
  });
  it('escapes : too for SIP002 plugin= values', () => {
    expect(formatOptions([e('failover', '1.2.3.4:80')], { sip002: true })).toBe(
      'failover=1.2.3.4\\:80',
    );
    expect(escapeOption('a:b')).toBe('a:b');
  });
  it('refuses an empty key', () => {
    expect(() => formatOptions([e('')])).toThrow(RangeError);
  });
  it('round-trips random entries through parse', () => {
    const alphabet = 'ab=;\\:x é\n';
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = (min: number): string =>
      Array.from({ length: min + rnd(6) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let round = 0; round < 500; round++) {
      const entries = Array.from({ length: 1 + rnd(5) }, () =>
        e(word(1), rnd(3) === 0 ? null : word(0)),
      );
      const text = formatOptions(entries);
      expect(parseOptions(text)).toEqual(entries);
      expect(parseOptions(formatOptions(entries, { sip002: true }))).toEqual(entries);
    }
  });
});

describe('the simple-obfs options corpus (vectors/sip003/sip003-plugin-options-quirks.json)', () => {
  interface Case {
    label: string;
    SS_PLUGIN_OPTIONS: string;
  }
  const corpus = JSON.parse(
    readFileSync(resolve(vectorsDir(), 'sip003/sip003-plugin-options-quirks.json'), 'utf8'),
  ) as { option_cases: Case[] };
  // How a SIP003-exact reader reads each spelling; where simple-obfs 0.0.5 differs, it is its bug.
  const expected: Record<string, OptionEntry[] | string> = {
    canonical: [e('obfs', 'http'), e('obfs-host', 'www.bing.com')],
    'underscore-key-ignored': [e('obfs', 'http'), e('obfs_host', 'www.bing.com')],
    'empty-value-kills-all-options': [e('obfs', 'http'), e('obfs-host', '')],
    'escaped-semicolon': [e('obfs', 'http'), e('obfs-host', 'a;b.com')],
    'unescaped-equals-last-wins': [e('obfs', 'http'), e('obfs-host', 'a=b.com')],
    'escaped-equals': [e('obfs', 'http'), e('obfs-host', 'a=b.com')],
    'escaped-backslash': [e('obfs', 'http'), e('obfs-host', 'a\\b.com')],
    'escaped-colon': [e('obfs', 'http'), e('obfs-host', 'a:b.com')],
    'obfs-value-case-sensitive': [e('obfs', 'HTTP'), e('obfs-host', 'www.bing.com')],
    'obfs-uri-unknown-in-0.0.5': [
      e('obfs', 'http'),
      e('obfs-host', 'www.bing.com'),
      e('obfs-uri', '/path'),
    ],
    'trailing-semicolon': [e('obfs', 'http'), e('obfs-host', 'www.bing.com')],
    'leading-semicolon': [e('obfs', 'http'), e('obfs-host', 'www.bing.com')],
    'space-after-semicolon': [e('obfs', 'http'), e(' obfs-host', 'www.bing.com')],
    'repeated-key-last-wins': [e('obfs', 'http'), e('obfs-host', 'a.com'), e('obfs-host', 'b.com')],
    'no-obfs-host-default': [e('obfs', 'http')],
    'flags-without-value': [
      e('obfs', 'http'),
      e('obfs-host', 'www.bing.com'),
      e('fast-open'),
      e('mptcp'),
    ],
    'unknown-keys-ignored': [
      e('obfs', 'http'),
      e('obfs-host', 'www.bing.com'),
      e('foo', 'bar'),
      e('x'),
    ],
    'tls-mode': [e('obfs', 'tls'), e('obfs-host', 'www.bing.com')],
    'obfs-host-300-chars': [e('obfs', 'http'), e('obfs-host', 'h'.repeat(300))],
    'obfs-host-bare-flag': [e('obfs', 'http'), e('obfs-host')],
    'obfs-bare-flag-crashes': [e('obfs'), e('obfs', 'http')],
  };
  it('covers every case of the corpus', () => {
    expect(corpus.option_cases.map((c) => c.label).sort()).toEqual(Object.keys(expected).sort());
  });
  it.each(corpus.option_cases.map((c) => [c.label, c.SS_PLUGIN_OPTIONS] as const))(
    '%s',
    (label, text) => {
      expect(parseOptions(text)).toEqual(expected[label]);
      expect(parseOptions(formatOptions(parseOptions(text)))).toEqual(expected[label]);
    },
  );
});
