import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pluginCommand, resolveTsx, spawnPlugin } from '../../src/cli/launch.ts';
import { repoRoot } from '../helpers.ts';

/** The one-line error pluginCommand throws, or 'no error'. */
function refusal(spec: string): string {
  try {
    pluginCommand(spec, 'client plugin', 'sip003 run');
    return 'no error';
  } catch (error) {
    return (error as Error).message;
  }
}

describe('pluginCommand', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sip003-launch-'));
    await mkdir(join(dir, 'dist'));
    await writeFile(join(dir, 'notes.txt'), 'not a plugin\n');
    for (const ext of ['js', 'mjs', 'cjs', 'mts', 'cts'])
      await writeFile(join(dir, `x.${ext}`), '');
    await writeFile(join(dir, 'plugin.sh'), '#!/bin/sh\nexit 0\n');
    await chmod(join(dir, 'plugin.sh'), 0o755);
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('runs .js files with this node and .ts files with this node through tsx', () => {
    const ts = resolve(repoRoot, 'packages/sdk/test/fixtures/resetting-main.ts');
    const command = pluginCommand(ts, 'client plugin', 'sip003 run');
    expect(command.command).toBe(process.execPath);
    expect(command.args).toEqual([
      '--import',
      expect.stringMatching(/^file:.*\/tsx\/.*loader\.mjs$/),
      ts,
    ]);
    for (const ext of ['js', 'mjs', 'cjs']) {
      const file = join(dir, `x.${ext}`);
      expect(pluginCommand(file, 'p', 'c')).toEqual({
        command: process.execPath,
        args: [file],
        path: file,
      });
    }
    for (const ext of ['mts', 'cts']) {
      expect(pluginCommand(join(dir, `x.${ext}`), 'p', 'c').args[0]).toBe('--import');
    }
    expect(pluginCommand(join(dir, 'plugin.sh'), 'p', 'c')).toEqual({
      command: join(dir, 'plugin.sh'),
      args: [],
      path: join(dir, 'plugin.sh'),
    });
    expect(pluginCommand('ss-local', 'p', 'c').command).toMatch(/\/ss-local$/);
  });

  it('refuses a .ts entry on node older than 20.6 in one line: tsx needs --import', () => {
    const ts = resolve(repoRoot, 'packages/sdk/test/fixtures/resetting-main.ts');
    expect(() => pluginCommand(ts, 'client plugin', 'sip003 run', '20.5.1')).toThrow(
      'sip003 run: client plugin: a .ts entry runs through tsx with --import, which needs node 20.6 or newer; this is node 20.5.1 (upgrade node, or give the bundled .js)',
    );
    expect(pluginCommand(ts, 'client plugin', 'sip003 run', '20.6.0').args[0]).toBe('--import');
  });

  it('names a missing file in one line, with "build it first" only under dist/', () => {
    expect(refusal(join(dir, 'src/main.ts'))).toBe(
      `sip003 run: client plugin: no such file "${join(dir, 'src/main.ts')}"`,
    );
    expect(refusal(join(dir, 'dist/p'))).toBe(
      `sip003 run: client plugin: no such file "${join(dir, 'dist/p')}"; build it first`,
    );
    expect(refusal('no-such-plugin-anywhere')).toBe(
      `sip003 run: client plugin: no such file "${resolve('no-such-plugin-anywhere')}" (nor on PATH)`,
    );
    expect(refusal(dir)).toBe(`sip003 run: client plugin: "${dir}" is not a file`);
  });

  it('refuses a file that is neither executable nor .js/.ts in one line, not EACCES', () => {
    expect(refusal(join(dir, 'notes.txt'))).toBe(
      `sip003 run: client plugin: "${join(dir, 'notes.txt')}" is not executable and not a .js or .ts file; chmod +x it, or give the plugin's .js or .ts entry`,
    );
  });
});

describe('resolveTsx', () => {
  it("finds tsx from the author's folder first, then the next folder; undefined if none has it", async () => {
    const empty = await mkdtemp(join(tmpdir(), 'sip003-no-tsx-'));
    try {
      expect(resolveTsx([empty])).toBeUndefined();
      expect(resolveTsx([empty, repoRoot])).toMatch(/\/tsx\/dist\/loader\.mjs$/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('spawnPlugin', () => {
  const quiet = { stderr: (): void => undefined };

  it('reports an exit code or a signal name, never a negative errno', async () => {
    const sh = (script: string) =>
      spawnPlugin({ command: '/bin/sh', args: ['-c', script], path: 'sh' }, {}, 'p', quiet);
    const exited = sh('exit 3');
    const killed = sh('kill -TERM $$');
    await Promise.all([once(exited.child, 'exit'), once(killed.child, 'exit')]);
    expect([exited.outcome(), killed.outcome()]).toEqual(['exit 3', 'signal SIGTERM']);
    const missing = spawnPlugin(
      { command: '/nonexistent/plugin', args: [], path: 'x' },
      {},
      'p',
      quiet,
    );
    await once(missing.child, 'error');
    expect(await missing.stop()).toBe('did not start: ENOENT');
  });

  it('prints each stderr line with its label, the last one without a newline too', async () => {
    const lines: string[] = [];
    const child = spawnPlugin(
      { command: '/bin/sh', args: ['-c', 'printf "one\\ntwo" >&2'], path: 'sh' },
      {},
      'server',
      { stderr: (l) => lines.push(l) },
    );
    await once(child.child, 'close');
    expect(lines).toEqual(['[server] one', '[server] two']);
  });
});
