import { describe, it, expect } from 'vitest';
import {
  option,
  validateOptions,
  suggest,
  describeOptions,
  type OptionShape,
} from '../src/schema.ts';
import { parseOptions } from '../src/options.ts';

const shape = {
  obfs: option.enum(['http', 'tls'], { default: 'http' }),
  'obfs-host': option.string({ default: 'cloudfront.net', nonEmpty: true, max: 255 }),
  level: option.int({ min: 1, max: 9 }),
  delay: option.seconds({ min: 0, max: 10, default: 2 }),
  failover: option.endpoint(),
  verbose: option.flag(),
} satisfies OptionShape;

const run = (text: string) =>
  validateOptions(parseOptions(text), {
    shape,
    aliases: { host: 'obfs-host', t: 'idle-timeout' },
    tolerated: { mptcp: 'MPTCP is not available; ignored' },
  });

describe('validateOptions', () => {
  it('applies defaults, including the SDK common options', () => {
    const { values, warnings } = run('');
    expect(values).toMatchObject({
      obfs: 'http',
      'obfs-host': 'cloudfront.net',
      delay: 2,
      verbose: false,
      server: false,
      'connect-timeout': 10,
      'idle-timeout': 600,
      'drain-timeout': 1,
      'max-connections': 8192,
      workers: 1,
    });
    expect(values.level).toBeUndefined();
    expect(values.failover).toBeUndefined();
    expect(warnings).toEqual([]);
  });
  it('types every value', () => {
    const { values } = run(
      'server;obfs=tls;host=a.com;level=3;delay=0.5;failover=[::1]:80;verbose=no;t=30',
    );
    expect(values).toMatchObject({
      server: true,
      obfs: 'tls',
      'obfs-host': 'a.com',
      level: 3,
      delay: 0.5,
      failover: { host: '::1', port: 80 },
      verbose: false,
      'idle-timeout': 30,
    });
  });
  it('warns once for host-added and tolerated keys', () => {
    const { warnings } = run('fast-open;fastOpen;__android_vpn;mptcp');
    expect(warnings).toEqual([
      'option fast-open: TCP Fast Open is not available to Node plugins; ignored',
      'option fastOpen: TCP Fast Open is not available to Node plugins; ignored',
      'option __android_vpn: Android VPN mode needs socket protection, which a Node plugin cannot do; ignored',
      'option mptcp: MPTCP is not available; ignored',
    ]);
  });
  it('keeps the last of repeated keys, with a warning', () => {
    const { values, warnings } = run('obfs-host=a.com;host=b.com');
    expect(values['obfs-host']).toBe('b.com');
    expect(warnings).toEqual([
      'option obfs-host given more than once (as obfs-host and host); the last one wins',
    ]);
  });
  it.each([
    ['obfs=htp', 'SIP003_OPTION_INVALID', 'obfs: expected one of http, tls, got "htp"'],
    ['obfs=HTTP', 'SIP003_OPTION_INVALID', 'obfs: expected one of http, tls, got "HTTP"'],
    ['obfs', 'SIP003_OPTION_INVALID', 'obfs: expected one of http, tls, got a bare flag'],
    [
      'obfs-host=',
      'SIP003_OPTION_INVALID',
      'obfs-host: expected a non-empty value of at most 255 characters, got ""',
    ],
    [
      'obfs-host',
      'SIP003_OPTION_INVALID',
      'obfs-host: expected a non-empty value of at most 255 characters, got a bare flag',
    ],
    [
      `obfs-host=${'h'.repeat(256)}`,
      'SIP003_OPTION_INVALID',
      `obfs-host: expected a non-empty value of at most 255 characters, got "${'h'.repeat(256)}"`,
    ],
    ['level=10', 'SIP003_OPTION_INVALID', 'level: expected an integer from 1 to 9, got "10"'],
    ['level=2.5', 'SIP003_OPTION_INVALID', 'level: expected an integer from 1 to 9, got "2.5"'],
    [
      'delay=-1',
      'SIP003_OPTION_INVALID',
      'delay: expected a number of seconds from 0 to 10, got "-1"',
    ],
    [
      'failover=example.com',
      'SIP003_OPTION_INVALID',
      'failover: expected host:port (IPv6 as [addr]:port), got "example.com"',
    ],
    [
      'failover=::1:80',
      'SIP003_OPTION_INVALID',
      'failover: expected host:port (IPv6 as [addr]:port), got "::1:80"',
    ],
    [
      'verbose=maybe',
      'SIP003_OPTION_INVALID',
      'verbose: expected a bare flag or one of true, false, 1, 0, yes, no, on, off, got "maybe"',
    ],
    [
      'obfs=x;level=0',
      'SIP003_OPTION_INVALID',
      'obfs: expected one of http, tls, got "x"; level: expected an integer from 1 to 9, got "0"',
    ],
    [
      'max-connections=0',
      'SIP003_OPTION_INVALID',
      'max-connections: expected an integer from 1 to 1000000, got "0"',
    ],
    [
      'obfs_host=a.com',
      'SIP003_OPTION_UNKNOWN',
      'unknown option "obfs_host"; did you mean "obfs-host"? (known: server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers, obfs, obfs-host, level, delay, failover, verbose)',
    ],
    [
      'obsf-host=a.com',
      'SIP003_OPTION_UNKNOWN',
      'unknown option "obsf-host"; did you mean "obfs-host"? (known: server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers, obfs, obfs-host, level, delay, failover, verbose)',
    ],
    [
      'zzz',
      'SIP003_OPTION_UNKNOWN',
      'unknown option "zzz" (known: server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers, obfs, obfs-host, level, delay, failover, verbose)',
    ],
    [
      ' obfs-host=a.com',
      'SIP003_OPTION_UNKNOWN',
      'unknown option " obfs-host"; did you mean "obfs-host"? (known: server, log-level, connect-timeout, handshake-timeout, idle-timeout, drain-timeout, max-connections, workers, obfs, obfs-host, level, delay, failover, verbose)',
    ],
  ])('%j → %s', (text, code, message) => {
    expect(() => run(text)).toThrow(expect.objectContaining({ code, message }));
  });
  it('names the option in the error object', () => {
    try {
      run('level=x');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ option: 'level', received: 'x', name: 'OptionsError' });
    }
  });
});

describe('suggest', () => {
  it.each([
    ['obfs_host', 'obfs-host'],
    ['fastopen', 'fast-open'],
    ['obfshost', 'obfs-host'],
    ['qwerty', undefined],
  ])('%s → %s', (typed, want) => {
    expect(suggest(typed, ['obfs', 'obfs-host', 'fast-open', 'server'])).toBe(want);
  });
});

describe('describeOptions', () => {
  it('lists every option with its description and default', () => {
    const lines = describeOptions({
      'obfs-host': option.string({ default: 'cloudfront.net' }).describe('Host header'),
    });
    expect(lines).toContain('  obfs-host          Host header (default: cloudfront.net)');
    expect(lines.some((l) => l.startsWith('  server '))).toBe(true);
  });
});

describe('suggest on short names', () => {
  it('offers nothing for a one-letter typo', () => {
    expect(suggest('v', ['t', 'idle-timeout'])).toBeUndefined();
    expect(suggest('T', ['t'])).toBe('t');
  });
});
