import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { main, type CliIO } from '../../src/cli/main.ts';

function capture(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
}

describe('sip003', () => {
  it('prints its usage: exit 0 when asked, 64 with no command', async () => {
    const asked = capture();
    expect(await main(['help'], asked)).toBe(0);
    expect(asked.out.join('\n')).toContain('Usage: sip003 <command>');
    expect(await main([], capture())).toBe(64);
  });

  it('refuses an unknown command with one line and exit 64', async () => {
    const io = capture();
    expect(await main(['frobnicate'], io)).toBe(64);
    expect(io.err).toEqual([
      'sip003: unknown command "frobnicate"; expected one of run, bundle, init, dev, doctor, help (or --version)',
    ]);
  });

  it.each([['--version'], ['-v']])('%s prints the SDK version', async (flag) => {
    const { version } = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const io = capture();
    expect(await main([flag], io)).toBe(0);
    expect(io.out).toEqual([`sip003 ${version}`]);
  });

  it.each([
    ['run', 'Usage: sip003 run <plugin>'],
    ['bundle', 'Usage: sip003 bundle <entry.ts>'],
    ['init', 'Usage: sip003 init <dir>'],
  ])("help %s prints that command's usage (%j...), as its --help does", async (command, first) => {
    const asked = capture();
    expect(await main(['help', command], asked)).toBe(0);
    expect(asked.out.join('\n').startsWith(first)).toBe(true);
    const flag = capture();
    expect(await main([command, '--help'], flag)).toBe(0);
    expect(asked.out).toEqual(flag.out);
  });

  it('help of an unknown command is the unknown command line', async () => {
    const io = capture();
    expect(await main(['help', 'nope'], io)).toBe(64);
    expect(io.err).toEqual([
      'sip003: unknown command "nope"; expected one of run, bundle, init, dev, doctor, help (or --version)',
    ]);
  });

  it('spells Usage: one way in every usage text', async () => {
    for (const command of [[], ['run'], ['bundle'], ['init'], ['dev'], ['doctor']]) {
      const io = capture();
      await main([...command, '--help'], io);
      const text = io.out.join('\n');
      expect(text.startsWith('Usage: sip003')).toBe(true);
      expect(text).not.toMatch(/usage:/);
    }
  });

  it.each([
    [['run', '--bogus'], 'sip003 run: unknown argument "--bogus" (see sip003 run --help)'],
    [['run', 'p', '--bytes'], 'sip003 run: --bytes needs a value'],
    [['run'], 'sip003 run: expected a plugin executable, got nothing (see sip003 run --help)'],
    [['run', 'a', 'b'], 'sip003 run: expected one plugin, got 2: a b'],
  ])('sip003 %j is a usage error (exit 64)', async (argv, line) => {
    const io = capture();
    expect(await main(argv, io)).toBe(64);
    expect(io.err).toEqual([line]);
  });

  it('run --help prints the options and exits 0', async () => {
    const io = capture();
    expect(await main(['run', '--help'], io)).toBe(0);
    expect(io.out.join('\n')).toContain('--no-server-flag');
  });
});
