import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it, expect } from 'vitest';
import { repoRoot } from './helpers.ts';

const fixture = resolve(repoRoot, 'packages/sdk/test/fixtures/options-plugin.ts');
const KEY = 'deadbeef';

/** Runs the fixture plugin from source with SS_PLUGIN_OPTIONS=`options`. */
function run(options: string, args: readonly string[] = []) {
  const result = spawnSync(
    process.execPath,
    ['--conditions=@sip003/source', '--import', 'tsx', fixture, ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...process.env,
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: '1',
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: '2',
        SS_PLUGIN_OPTIONS: options,
      },
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('runMain', () => {
  it('--check prints secrets as <secret> and bytes as hex', () => {
    const { code, stdout, stderr } = run(`key=${KEY}`, ['--check']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('"key":"<secret>","salt":"abcd"');
    expect(stdout).not.toContain(KEY);
    expect(stdout).not.toContain('Buffer');
  });

  it.each([[[]], [['--check']]])(
    'a plain throw in check is one configuration line, exit 2 (args %j)',
    (args) => {
      const { code, stdout, stderr } = run(`key=${KEY};pad-min=100;pad-max=10`, args);
      expect(stdout).toBe('');
      expect(stderr).toBe('options-plugin: pad-min is above pad-max\n');
      expect(code).toBe(2);
    },
  );

  it('a missing required option and a bad secret are one line each, never quoting the secret', () => {
    const missing = run('');
    expect(missing.stderr).toBe(
      'options-plugin: key: required, expected 4 bytes in hex, got nothing\n',
    );
    expect(missing.code).toBe(2);
    const bad = run('key=deadbeef00', ['--check']);
    expect(bad.stderr).toBe(
      'options-plugin: key: expected 4 bytes in hex, got <secret> (5 bytes)\n',
    );
    expect(bad.code).toBe(2);
  });

  it('--help shows type, range, default, required and secret of each option', () => {
    const { code, stdout } = run('', ['--help']);
    expect(code).toBe(0);
    const line = (name: string): string =>
      stdout.split('\n').find((l) => l.startsWith(`  ${name} `)) ?? `no line for ${name}`;
    expect(line('key')).toMatch(/^ {2}key +<hex, 4 bytes> +the shared key \(required, secret\)$/);
    expect(line('salt')).toMatch(/^ {2}salt +<hex> +a public salt \(default: abcd\)$/);
    expect(line('pad-max')).toMatch(
      /^ {2}pad-max +<int 0\.\.255> +most padding bytes \(default: 64\)$/,
    );
  });
});
