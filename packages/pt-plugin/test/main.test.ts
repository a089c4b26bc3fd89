import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinaries } from '@sip003/sdk/testing';
import { describe, it, expect } from 'vitest';
import { plugin } from './kit.ts';

function run(options: string, args: string[] = [], remoteHost = '127.0.0.1') {
  const result = spawnSync(plugin, args, {
    env: {
      ...process.env,
      SS_REMOTE_HOST: remoteHost,
      SS_REMOTE_PORT: '8388',
      SS_LOCAL_HOST: '127.0.0.1',
      SS_LOCAL_PORT: '1080',
      SS_PLUGIN_OPTIONS: options,
    },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const CERT = 'f5ZnU39bwgkvVdmxraLeZukh3sOBBZy636E/bbZ3Im3sJEQDTUHNaFeJpQoLqhOFnS3GZw';

describe('pt-plugin executable: configuration errors before the PT starts', () => {
  it('is built', () => {
    expect(existsSync(plugin), `${plugin} is missing: run pnpm build`).toBe(true);
  });

  it('exits 2 with one line for a missing cert, an unknown transport, a missing exec', () => {
    for (const [options, line] of [
      ['transport=obfs4', /^pt-plugin: cert: transport obfs4 needs cert=/],
      [`transport=obfs5;cert=${CERT}`, /^pt-plugin: transport: expected one of obfs4/],
      [
        `cert=${CERT};exec=/no/such/obfs4proxy`,
        /^pt-plugin: exec: "\/no\/such\/obfs4proxy" does not exist$/,
      ],
    ] as const) {
      const { code, stderr } = run(options);
      expect(code, stderr).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr.trim()).toMatch(line);
    }
  });

  it('exits 2 when the server address is not one IP (the PT binds it itself)', () => {
    const { code, stderr } = run('server;state=/tmp/pt-plugin-never', [], 'a.example|b.example');
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'pt-plugin: SS_REMOTE_HOST must be one IP address for the transport to listen on, got "a.example|b.example"',
    );
  });

  it.skipIf(missingBinaries(['obfs4proxy']).length > 0)(
    "exits 2 quoting obfs4proxy's SMETHOD-ERROR for a transport it cannot serve",
    () => {
      const state = mkdtempSync(join(tmpdir(), 'pt-plugin-main-'));
      try {
        const { code, stderr } = run(`server;transport=meek_lite;state=${state}`);
        expect(code).toBe(2);
        expect(stderr.trim()).toMatch(
          /^pt-plugin: transport: \S*obfs4proxy could not start meek_lite: server not supported$/,
        );
      } finally {
        rmSync(state, { recursive: true, force: true });
      }
    },
  );

  it('--check masks secrets; --help lists the options', () => {
    const check = run(`cert=${CERT}`, ['--check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('"cert":"<secret>"');
    expect(check.stdout).not.toContain(CERT);
    const help = run('', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/transport .*the pluggable transport \(default: obfs4\)/);
  });
});
