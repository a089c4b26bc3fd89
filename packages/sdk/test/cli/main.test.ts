import { describe, it, expect } from 'vitest';
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
    expect(asked.out.join('\n')).toContain('usage: sip003 <command>');
    expect(await main([], capture())).toBe(64);
  });

  it('refuses an unknown command with one line and exit 64', async () => {
    const io = capture();
    expect(await main(['frobnicate'], io)).toBe(64);
    expect(io.err).toEqual(['sip003: unknown command "frobnicate"; expected run or bundle']);
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
