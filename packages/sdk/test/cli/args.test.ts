import { describe, it, expect } from 'vitest';
import { parseCommandLine, parseSize } from '../../src/cli/args.ts';

const spec = { bytes: { type: 'string' }, serve: { type: 'boolean' } } as const;

describe('parseCommandLine', () => {
  it('reads --name value, --name=value, flags and positionals', () => {
    expect(parseCommandLine(['p', '--bytes', '1k', '--serve'], spec, 'cmd')).toEqual({
      values: { bytes: '1k', serve: true },
      positionals: ['p'],
    });
    expect(parseCommandLine(['--bytes=2k', 'p'], spec, 'cmd').values).toEqual({ bytes: '2k' });
  });

  it.each([
    [['--nope'], 'cmd: unknown argument "--nope" (see cmd --help)'],
    [['-x'], 'cmd: unknown argument "-x" (see cmd --help)'],
    [['--bytes'], 'cmd: --bytes needs a value'],
    [['--bytes', '--serve'], 'cmd: --bytes needs a value'],
    [['--serve=yes'], 'cmd: --serve takes no value'],
  ])('%j is a one-line usage error', (argv, message) => {
    expect(() => parseCommandLine(argv, spec, 'cmd')).toThrow(
      expect.objectContaining({ code: 'SIP003_USAGE', message }),
    );
  });
});

describe('parseSize', () => {
  it.each([
    ['4096', 4096],
    ['64KiB', 65536],
    ['64k', 65536],
    ['1kb', 1000],
    ['16MiB', 16 << 20],
    ['1.5m', 1.5 * (1 << 20)],
    ['1g', 1 << 30],
    ['2 GB', 2e9],
  ])('%s is %i bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'k', '-1', '1x', '1 2', 'MiB1'])('%j is not a size', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});
