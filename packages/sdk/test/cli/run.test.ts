import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type CliIO } from '../../src/cli/main.ts';
import { repoRoot } from '../helpers.ts';

function capture(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
}

const tsEntry = resolve(repoRoot, 'packages/sdk/test/fixtures/resetting-main.ts');
const optionsEntry = resolve(repoRoot, 'packages/sdk/test/fixtures/options-plugin.ts');

describe('sip003 run', () => {
  it('runs a TypeScript entry through tsx and reports the exit codes of both sides', async () => {
    const io = capture();
    expect(await main(['run', tsEntry, '--bytes', '1MiB'], io)).toBe(0);
    expect(io.out).toEqual([
      expect.stringMatching(
        /^client plugin \(pid \d+\) listens on 127\.0\.0\.1:\d+ -> server plugin \(pid \d+\) on 127\.0\.0\.1:\d+ -> echo server 127\.0\.0\.1:\d+$/,
      ),
      '  client options: (none); server options: server',
      expect.stringMatching(/^OK: 1048576 bytes went through the plugin pair/),
      'stopped plugins: server exit 0, client exit 0',
    ]);
    expect(io.err.join('\n')).toContain('[server] resetting-plugin info listening on 127.0.0.1:');
  }, 60_000);

  it('--serve fails (exit 1) when a plugin dies while serving, naming it and how it ended', async () => {
    const out: string[] = [];
    const err: string[] = [];
    let serving!: () => void;
    const ready = new Promise<void>((resolve) => (serving = resolve));
    const io: CliIO = {
      stdout: (l) => {
        out.push(l);
        if (l.startsWith('serving;')) serving();
      },
      stderr: (l) => err.push(l),
    };
    const done = main(['run', tsEntry, '--serve'], io);
    await ready;
    const pid = Number(/server plugin \(pid (\d+)\)/.exec(out[0] ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    expect(await done).toBe(1);
    expect(err).toContain('server plugin ended (signal SIGKILL) while serving');
  }, 60_000);

  it('names the options it passes but echoes no value: it cannot know which are secret', async () => {
    const io = capture();
    const secret = '5ec12e75';
    expect(
      await main(['run', optionsEntry, '--bytes', '64KiB', '--options', `key=${secret}`], io),
    ).toBe(0);
    expect(io.out).toContain('  client options: key; server options: server, key');
    expect([...io.out, ...io.err].join('\n')).not.toContain(secret);
  }, 60_000);

  it('says in one line how a plugin ended when it never listened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sip003-run-'));
    try {
      const broken = join(dir, 'main.ts');
      await writeFile(broken, 'process.exit(3);\n');
      const io = capture();
      expect(await main(['run', broken], io)).toBe(1);
      expect(io.err.at(-1)).toMatch(
        /^server plugin ended \(exit 3\) before it listened on 127\.0\.0\.1:\d+$/,
      );
      const killed = join(dir, 'killed.sh');
      await writeFile(killed, '#!/bin/sh\nkill -KILL $$\n', { mode: 0o755 });
      const io2 = capture();
      expect(await main(['run', killed], io2)).toBe(1);
      expect(io2.err.at(-1)).toMatch(/^server plugin ended \(signal SIGKILL\) before it listened/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a missing or non-executable plugin with exit 64 and one line', async () => {
    const io = capture();
    expect(await main(['run', 'packages/x/dist/x-plugin'], io)).toBe(64);
    expect(io.err).toEqual([
      `sip003 run: client plugin: no such file "${resolve('packages/x/dist/x-plugin')}"; build it first`,
    ]);
    const io2 = capture();
    expect(await main(['run', resolve(repoRoot, 'README.md')], io2)).toBe(64);
    expect(io2.err).toEqual([
      `sip003 run: client plugin: "${resolve(repoRoot, 'README.md')}" is not executable and not a .js or .ts file; chmod +x it, or give the plugin's .js or .ts entry`,
    ]);
  });
});
