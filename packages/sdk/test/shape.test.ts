import { describe, it, expect } from 'vitest';
import { option, type OptionShape } from '../src/schema.ts';
import { validateOptions, describeOptions, redactValues, redactEntries } from '../src/shape.ts';
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
  it('says a key repeated under its own name once, without naming it twice', () => {
    expect(run('level=1;level=2').warnings).toEqual([
      'option level given more than once; the last one wins',
    ]);
    expect(run('host=a.com;host=b.com').warnings).toEqual([
      'option obfs-host given more than once (as host); the last one wins',
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

describe('describeOptions', () => {
  it('shows type, range or values, default, required and secret for every option', () => {
    const lines = describeOptions({
      'pad-max': option.int({ min: 0, max: 255, default: 64, description: 'most padding bytes' }),
      obfs: option.enum(['http', 'tls'], { default: 'http', description: 'obfuscation' }),
      key: option.hex({ length: 16, required: true, secret: true }),
      level: option.int({ min: 1, max: 9 }),
      'obfs-host': option.string({ default: 'cloudfront.net', description: 'Host header' }),
    });
    const own = lines.slice(-5);
    expect(own).toEqual([
      '  pad-max            <int 0..255>             most padding bytes (default: 64)',
      '  obfs               <http|tls>               obfuscation (default: http)',
      '  key                <hex, 16 bytes>          required, secret',
      '  level              <int 1..9>',
      '  obfs-host          <text>                   Host header (default: cloudfront.net)',
    ]);
    expect(lines).toContain(
      '  server             <flag>                   run as the server-side plugin (listen on SS_REMOTE, dial SS_LOCAL) (default: off)',
    );
    expect(lines).toContain(
      '  idle-timeout       <seconds 0..86400>       seconds without traffic in either direction before a connection is closed (0 = never) (default: 600)',
    );
    for (const line of lines) expect(line).toMatch(/^ {2}\S+ +<[^>]+>/);
  });
  it('shows defaults as they are typed: bytes in their encoding, lists with commas, endpoints', () => {
    const lines = describeOptions({
      salt: option.hex({ default: Buffer.from([0xab, 0x01]) }),
      token: option.base64({ default: Buffer.from('hi') }),
      ports: option.list(option.port(), { default: [80, 443] }),
      via: option.endpoint({ default: { host: '::1', port: 8080 } }),
      pin: option.string({ default: 'x', secret: true }),
    });
    expect(lines.slice(-5).map((l) => l.replace(/ +/g, ' '))).toEqual([
      ' salt <hex> default: ab01',
      ' token <base64> default: aGk=',
      ' ports <port,...> default: 80,443',
      ' via <host:port> default: [::1]:8080',
      ' pin <text> secret, default: <secret>',
    ]);
  });
});

describe('redactValues and redactEntries', () => {
  const shape = { key: option.hex({ secret: true }), salt: option.hex(), host: option.string() };
  it('print bytes as hex and secrets as <secret>', () => {
    const { values } = validateOptions(parseOptions('key=aa;salt=0102;host=h'), { shape });
    const shown = JSON.stringify(redactValues(shape, values));
    expect(shown).toContain('"key":"<secret>","salt":"0102","host":"h"');
    expect(shown).not.toContain('Buffer');
  });
  it('mask secret values in an option string, aliases included', () => {
    expect(
      redactEntries(parseOptions('k=aa;salt=01;key=bb;server'), {
        shape,
        aliases: { k: 'key' },
      }),
    ).toBe('k=<secret>;salt=01;key=<secret>;server');
  });
});
