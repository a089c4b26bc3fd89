import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, afterAll } from 'vitest';
import { resolveConfig } from '@sip003/sdk/advanced';
import ptPlugin, { clientOptions, transportSpec } from '../src/index.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pt-plugin-index-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const notExecutable = join(scratch, 'obfs4proxy');
writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });

const CERT = 'f5ZnU39bwgkvVdmxraLeZukh3sOBBZy636E/bbZ3Im3sJEQDTUHNaFeJpQoLqhOFnS3GZw';

function resolveWith(options: string, remoteHost = '127.0.0.1') {
  return resolveConfig(ptPlugin, {
    SS_REMOTE_HOST: remoteHost,
    SS_REMOTE_PORT: '8388',
    SS_LOCAL_HOST: '127.0.0.1',
    SS_LOCAL_PORT: '1080',
    SS_PLUGIN_OPTIONS: options,
    PATH: process.env['PATH'] ?? '',
  });
}

describe('pt-plugin options', () => {
  it('types an obfs4 client and maps it to obfs4proxy with the per-connection arguments', () => {
    const { mode, options } = resolveWith(`transport=obfs4;cert=${CERT};iat-mode=1`);
    expect(mode).toBe('client');
    expect(options).toMatchObject({
      transport: 'obfs4',
      cert: CERT,
      'iat-mode': 1,
      exec: 'obfs4proxy',
    });
    expect(transportSpec.configure(options, mode)).toMatchObject({
      transport: 'obfs4',
      clientArgs: { cert: CERT, 'iat-mode': '1' },
      startupTimeoutMs: 10_000,
    });
  });

  it('gives the server its state directory and the iat-mode as a transport option', () => {
    const { mode, options } = resolveWith('server;state=/var/lib/pt;iat-mode=2', '0.0.0.0');
    expect(transportSpec.configure(options, mode)).toMatchObject({
      stateDir: '/var/lib/pt',
      serverOptions: { 'iat-mode': '2' },
    });
  });

  const errors: [string, string, RegExp][] = [
    [
      'a missing cert',
      'transport=obfs4',
      /^cert: transport obfs4 needs cert=\.\.\. \(from the server's client-options\.txt\)$/,
    ],
    [
      'a malformed cert (a secret: its value is not quoted)',
      'cert=short',
      /^cert: expected an obfs4 cert \(70 base64 characters, from the server's client-options\.txt\), got <secret>$/,
    ],
    [
      'an unknown transport',
      `transport=obfs5;cert=${CERT}`,
      /^transport: expected one of obfs4, obfs3, obfs2, scramblesuit, meek_lite, got "obfs5"$/,
    ],
    ['an exec not on PATH', `cert=${CERT};exec=no-such-pt`, /^exec: "no-such-pt" is not on PATH/],
    [
      'an exec that is not executable',
      `cert=${CERT};exec=${notExecutable}`,
      /^exec: ".*obfs4proxy" is not executable/,
    ],
    ['a server without state', 'server', /^state: the server needs a state directory/],
    [
      'a state path under a file',
      `server;state=${notExecutable}/state`,
      /^state: ".*obfs4proxy\/state" is not a directory \(.*obfs4proxy is a file\)$/,
    ],
    [
      'a scramblesuit client without password',
      'transport=scramblesuit',
      /^password: transport scramblesuit needs password=/,
    ],
    [
      'an iat-mode out of range',
      `cert=${CERT};iat-mode=3`,
      /^iat-mode: expected an integer from 0 to 2, got "3"$/,
    ],
  ];
  for (const [what, options, message] of errors) {
    it(`refuses ${what} with one line naming the option`, () => {
      expect(() => resolveWith(options)).toThrow(message);
    });
  }

  it('warns about arguments the transport does not use', () => {
    const { warnings } = resolveWith(`transport=obfs3;cert=${CERT}`);
    expect(warnings).toEqual(['option cert: not used by transport obfs3; ignored']);
  });

  it('formats the client options line from the SMETHOD arguments, escaped for SIP003', () => {
    expect(clientOptions('obfs4', { cert: CERT, 'iat-mode': '0' })).toBe(
      `transport=obfs4;cert=${CERT};iat-mode=0`,
    );
    expect(clientOptions('x', { k: 'a;b=c' })).toBe('transport=x;k=a\\;b\\=c');
  });
});
