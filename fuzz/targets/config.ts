/**
 * What a configuration reaches: the SIP003 environment (`SS_*` hosts and ports, spec-style host
 * lists) and the options reader (SS_PLUGIN_OPTIONS tokenizer, then the schema of a real plugin).
 * A bad configuration must stop the plugin with one PluginError line, never anything else.
 */
import fc from 'fast-check';
import {
  ErrorCode,
  formatOptions,
  parseOptions,
  type PluginEnv,
} from '../../packages/sdk/src/index.ts';
import {
  formatEndpoint,
  parseEndpoint,
  resolveConfig,
  type OptionEntry,
} from '../../packages/sdk/src/advanced.ts';
// Internal to the SDK (not exported): the fuzz oracle checks the host rule itself.
import { isValidHost } from '../../packages/sdk/src/address.ts';
import obfsHttpPlugin from '../../packages/obfs-http-plugin/src/index.ts';
import { check, expectedCode } from '../invariants.ts';
import type { FuzzTarget } from '../target.ts';

const PLAIN = 'abcdefghijklmnopqrstuvwxyz-_0123456789';

/** Strings weighted toward the characters the option syntax gives meaning to. */
const optionText = fc.string({
  unit: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('\\', ';', '=', ':', ' ', '\n') },
    { weight: 6, arbitrary: fc.nat(PLAIN.length - 1).map((i) => PLAIN.charAt(i)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 40,
});

const entry: fc.Arbitrary<OptionEntry> = fc.record({
  key: optionText.filter((k) => k !== ''),
  value: fc.option(optionText, { nil: null }),
});

const sameEntries = (a: readonly OptionEntry[], b: readonly OptionEntry[]): boolean =>
  a.length === b.length && a.every((e, i) => e.key === b[i]?.key && e.value === b[i]?.value);

export const sip003Options: FuzzTarget = {
  name: 'sip003-options',
  reaches: 'config: SS_PLUGIN_OPTIONS text (parseOptions, formatOptions)',
  check: (parameters) =>
    fc.check(
      fc.property(
        optionText,
        fc.array(entry, { maxLength: 5 }),
        fc.boolean(),
        (text, entries, sip002) => {
          let parsed: OptionEntry[] | undefined;
          try {
            parsed = parseOptions(text);
          } catch (error) {
            expectedCode(error, [ErrorCode.OPTION_SYNTAX]);
          }
          if (parsed !== undefined) {
            // formatOptions is the inverse: what was read, written and read again is the same.
            const again = parseOptions(formatOptions(parsed, { sip002 }));
            check(
              sameEntries(parsed, again),
              () => `format(parse(${JSON.stringify(text)})) reads back differently`,
            );
          }
          const formatted = formatOptions(entries, { sip002 });
          check(
            sameEntries(parseOptions(formatted), entries),
            () => `parse(format(entries)) is not the entries: ${JSON.stringify(formatted)}`,
          );
        },
      ),
      parameters,
    ),
};

const host = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      '127.0.0.1',
      '0.0.0.0',
      '::1',
      '[::1]',
      '::',
      '[::ffff:127.0.0.1]',
      'fe80::1%lo',
      'localhost',
      'example.com.',
      'a_b.example',
      'x'.repeat(63),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '-bad',
      '1.2.3',
      '256.0.0.1',
      '[127.0.0.1]',
      '[::1',
      '',
      ' ',
      'a..b',
      'x'.repeat(254),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
);
const hosts = fc
  .array(host, { minLength: 1, maxLength: 3 })
  .chain((list) => fc.constantFrom(list[0] ?? '', list.join('|'), list.join(' | ')));
const port = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('1', '8388', '65535', ' 80 ') },
  { weight: 2, arbitrary: fc.constantFrom('0', '65536', '080', '+80', '0x50', '1e3', '80.0', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
/** Option items obfs-http-plugin accepts, and items it must refuse with one line. */
const goodItem = fc.constantFrom(
  'server',
  'obfs=http',
  'obfs=tls',
  'obfs-host=www.bing.com',
  'obfs-uri=/x',
  'http-method=POST',
  'failover=127.0.0.1:80',
  'failover=[::1]:80',
  'reverse_proxy',
  'workers=2',
  'idle-timeout=0.5',
  't=30',
  'mptcp',
  'fast-open',
);
const badItem = fc.constantFrom(
  'obfs=ssh',
  'obfs-host=',
  'obfs-host=a b',
  `obfs-host=${'h'.repeat(300)}`,
  'obfs-uri=x',
  'http-method=G T',
  'failover=::1:80',
  'failover=',
  'workers=0',
  'max-connections=1e3',
  'idle-timeout=-1',
  'log-level=loud',
  'obfs',
  'serverr',
);
const optionsText = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .array(fc.oneof({ weight: 6, arbitrary: goodItem }, { weight: 1, arbitrary: badItem }), {
        maxLength: 5,
      })
      .map((items) => items.join(';')),
  },
  { weight: 1, arbitrary: optionText },
);
const environment = fc.record(
  {
    SS_REMOTE_HOST: hosts,
    SS_REMOTE_PORT: port,
    SS_LOCAL_HOST: hosts,
    SS_LOCAL_PORT: port,
    SS_PLUGIN_OPTIONS: optionsText,
  },
  { requiredKeys: ['SS_REMOTE_HOST', 'SS_REMOTE_PORT', 'SS_LOCAL_HOST', 'SS_LOCAL_PORT'] },
);

const CONFIG_CODES = [
  ErrorCode.ENV_MISSING,
  ErrorCode.ENV_INVALID,
  ErrorCode.OPTION_SYNTAX,
  ErrorCode.OPTION_UNKNOWN,
  ErrorCode.OPTION_INVALID,
  ErrorCode.MODE_MISMATCH,
];

export const ssEnv: FuzzTarget = {
  name: 'ss-env',
  reaches: 'config: the SS_* environment and options through a real plugin (resolveConfig)',
  check: (parameters) =>
    fc.check(
      fc.property(environment, (vars) => {
        let env: PluginEnv;
        try {
          env = resolveConfig(obfsHttpPlugin, vars).env;
        } catch (error) {
          expectedCode(error, CONFIG_CODES);
          return;
        }
        const { remoteHosts, remotePort, localHosts, localPort } = env;
        for (const [list, p] of [
          [remoteHosts, remotePort],
          [localHosts, localPort],
        ] as const) {
          check(Number.isInteger(p) && p >= 1 && p <= 65535, () => `accepted port ${p}`);
          for (const h of list) {
            check(isValidHost(h), () => `accepted host ${JSON.stringify(h)} is not valid`);
            // Every accepted endpoint formats for logs and reads back the same.
            const back = parseEndpoint(formatEndpoint({ host: h, port: p }));
            check(
              back?.host === h && back.port === p,
              () =>
                `${JSON.stringify(h)}:${p} does not read back from ${formatEndpoint({ host: h, port: p })}`,
            );
          }
        }
      }),
      parameters,
    ),
};
