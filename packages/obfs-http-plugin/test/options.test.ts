import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { resolveConfig } from '@sip003/sdk/advanced';
import obfsHttpPlugin from '../src/index.ts';

const env = (options: string, host = '127.0.0.1'): NodeJS.ProcessEnv => ({
  SS_REMOTE_HOST: host,
  SS_REMOTE_PORT: '8388',
  SS_LOCAL_HOST: '127.0.0.1',
  SS_LOCAL_PORT: '1080',
  SS_PLUGIN_OPTIONS: options,
});

describe('obfs-http-plugin options', () => {
  it('reads a typical client configuration', () => {
    const { mode, options, warnings } = resolveConfig(
      obfsHttpPlugin,
      env('obfs=tls;obfs-host=www.bing.com;t=300'),
    );
    expect(mode).toBe('client');
    expect(options).toMatchObject({
      obfs: 'tls',
      'obfs-host': 'www.bing.com',
      'idle-timeout': 300,
      'obfs-uri': '/',
      'http-method': 'GET',
    });
    expect(warnings).toEqual([]);
  });

  it('reads a typical server configuration', () => {
    const { mode, options } = resolveConfig(
      obfsHttpPlugin,
      env('server;obfs=http;failover=127.0.0.1:8080;reverse_proxy', '0.0.0.0'),
    );
    expect(mode).toBe('server');
    expect(options).toMatchObject({
      obfs: 'http',
      failover: { host: '127.0.0.1', port: 8080 },
      reverse_proxy: true,
    });
    expect(options['obfs-host']).toBeUndefined();
  });

  it('keeps simple-obfs configs starting: its other keys are accepted with a warning', () => {
    const { warnings } = resolveConfig(
      obfsHttpPlugin,
      env('obfs=http;fast-open;mptcp;v;b=10.0.0.1;i=eth0;a=nobody;6;c=/etc/obfs.json'),
    );
    expect(warnings).toHaveLength(8);
    expect(warnings[2]).toBe('option v: simple-obfs verbose flag; ignored (use log-level=debug)');
  });

  it('warns about server-only options on the client', () => {
    const { warnings } = resolveConfig(
      obfsHttpPlugin,
      env('obfs=tls;failover=1.2.3.4:80;reverse_proxy'),
    );
    expect(warnings).toEqual([
      'option failover: only the server side uses it; ignored',
      'option reverse_proxy: only an HTTP server uses it; ignored',
    ]);
  });

  it.each([
    ['obfs=HTTP', 'obfs: expected one of http, tls, got "HTTP"'],
    ['obfs', 'obfs: expected one of http, tls, got a bare flag'],
    [
      'obfs=http;obfs-host=',
      'obfs-host: expected a host name of 1 to 255 characters without spaces or control characters, got ""',
    ],
    [
      'obfs=http;obfs-host',
      'obfs-host: expected a host name of 1 to 255 characters without spaces or control characters, got a bare flag',
    ],
    [
      `obfs-host=${'h'.repeat(256)}`,
      `obfs-host: expected a host name of 1 to 255 characters without spaces or control characters, got "${'h'.repeat(256)}"`,
    ],
    [
      'obfs-host=a b',
      'obfs-host: expected a host name of 1 to 255 characters without spaces or control characters, got "a b"',
    ],
    [
      'obfs-uri=path',
      'obfs-uri: expected a path starting with "/" without spaces or control characters, got "path"',
    ],
    [
      'http-method=GE T',
      'http-method: expected an HTTP method token such as GET or POST, got "GE T"',
    ],
    [
      'server;failover=example.com',
      'failover: expected host:port (IPv6 as [addr]:port), got "example.com"',
    ],
    ['obfs_host=www.bing.com', 'unknown option "obfs_host"; did you mean "obfs-host"?'],
    ['obsf-host=www.bing.com', 'unknown option "obsf-host"; did you mean "obfs-host"?'],
  ])('%j → one-line error', (options, message) => {
    expect(() => resolveConfig(obfsHttpPlugin, env(options))).toThrow(message);
  });
});

describe('obfs-http-plugin --help', () => {
  const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
  const help = spawnSync(
    process.execPath,
    [
      '--conditions=@sip003/source',
      '--import',
      'tsx',
      'packages/obfs-http-plugin/src/main.ts',
      '--help',
    ],
    { cwd: root, encoding: 'utf8', timeout: 30_000 },
  );
  const line = (name: string): string =>
    help.stdout.split('\n').find((l) => l.startsWith(`  ${name} `)) ?? `(no line for ${name})`;

  it('shows the type, range or values and default of every option that has them', () => {
    expect(help.status).toBe(0);
    expect(line('obfs')).toMatch(/ <http\|tls> +obfuscation: .* \(default: http\)$/);
    expect(line('obfs-host')).toMatch(/ <text, 1\.\.255 chars> +client: Host header/);
    expect(line('obfs-uri')).toMatch(/ <text> +client, http: request path \(default: \/\)$/);
    expect(line('http-method')).toMatch(
      / <text> +client, http: request method .*\(default: GET\)$/,
    );
    expect(line('failover')).toMatch(/ <host:port> +server: where connections/);
    expect(line('reverse_proxy')).toMatch(/ <flag> +server, http: .*\(default: off\)$/);
    expect(line('log-level')).toMatch(/ <error\|warn\|info\|debug> +log level/);
    expect(line('idle-timeout')).toMatch(/ <seconds 0\.\.86400> +.*\(default: 600\)$/);
    expect(line('max-connections')).toMatch(/ <int 1\.\.1000000> +.*\(default: 8192\)$/);
  });

  it('has no option line without a type and a description', () => {
    const names = [...Object.keys(obfsHttpPlugin.options ?? {}), 'server', 'workers'];
    for (const name of names) expect(line(name)).toMatch(/^ {2}\S+ +<[^>]+> +\S/);
  });
});
