import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkNodeVersion } from '../../src/cli/doctor.ts';
import { main, type CliIO } from '../../src/cli/main.ts';
import { missingBinaries } from '../../src/testing/processes.ts';

function capture(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
}

const SS = [
  'SS_REMOTE_HOST',
  'SS_REMOTE_PORT',
  'SS_LOCAL_HOST',
  'SS_LOCAL_PORT',
  'SS_PLUGIN_OPTIONS',
];

/** `sip003 doctor argv` with exactly the SS_* variables of `ss`: exit code and lines. */
async function doctor(argv: string[], ss: Record<string, string> = {}) {
  for (const name of SS) vi.stubEnv(name, ss[name]);
  const io = capture();
  const code = await main(['doctor', ...argv], io);
  return { code, out: io.out, err: io.err };
}

async function listening(): Promise<Server> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const portOf = (server: Server): number => (server.address() as { port: number }).port;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('checkNodeVersion', () => {
  const day = new Date('2026-12-02');

  it('fails before Node 20, warns past end of life with the date, is ok otherwise', () => {
    expect(checkNodeVersion('18.20.4', day)).toEqual({
      level: 'fail',
      text: 'node 18.20.4: the SDK needs Node 20 or newer; install Node 22, 24 or 26',
    });
    expect(checkNodeVersion('20.20.2', day)).toEqual({
      level: 'warn',
      text: 'node 20.20.2: end of life since 2026-04-30 (no more security fixes); upgrade to Node 22, 24 or 26',
    });
    expect(checkNodeVersion('20.20.2', new Date('2026-01-01'))).toEqual({
      level: 'ok',
      text: 'node 20.20.2 (maintained until 2026-04-30)',
    });
    expect(checkNodeVersion('25.1.0', day).level).toBe('warn');
    expect(checkNodeVersion('24.3.0', day)).toEqual({
      level: 'ok',
      text: 'node 24.3.0 (maintained until 2028-04-30)',
    });
    expect(checkNodeVersion('31.0.0', day)).toEqual({ level: 'ok', text: 'node 31.0.0' });
  });
});

describe('sip003 doctor', () => {
  it.skipIf(missingBinaries(['ss-local', 'ss-server']).length > 0)(
    'finds node and the shadowsocks-libev binaries on PATH with their versions',
    async () => {
      const { code, out } = await doctor([]);
      expect(code).toBe(0);
      expect(out[0]).toMatch(/^(ok|warn) {2,3}node \d+\.\d+\.\d+/);
      expect(out).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^ok {4}node on PATH: \/\S+\/node v\d+\.\d+\.\d+ \(runs plain bundles\)$/,
          ),
          expect.stringMatching(
            /^ok {4}ss-local: \/\S+\/ss-local \(shadowsocks-libev \d+\.\d+\.\d+\)$/,
          ),
          expect.stringMatching(
            /^ok {4}ss-server: \/\S+\/ss-server \(shadowsocks-libev \d+\.\d+\.\d+\)$/,
          ),
          'ok    SS_* environment: not set here (a shadowsocks host sets it for the plugin it starts)',
        ]),
      );
      expect(out).toHaveLength(7);
    },
  );

  it('warns with what to install when PATH has none of them, and still exits 0', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'sip003-doctor-'));
    try {
      vi.stubEnv('PATH', empty);
      const { code, out } = await doctor([]);
      expect(code).toBe(0);
      expect(out.slice(1, 6)).toEqual([
        'warn  node is not on PATH: plain bundles (#!/usr/bin/env node) will not start; install Node.js 20+ or bundle with --standalone',
        'warn  ss-local is not on PATH (shadowsocks-libev; needed only to run the plugin under it: apt-get install shadowsocks-libev)',
        'warn  ss-server is not on PATH (shadowsocks-libev; needed only to run the plugin under it: apt-get install shadowsocks-libev)',
        'warn  sslocal is not on PATH (shadowsocks-rust; needed only to run the plugin under it: cargo install shadowsocks-rust, or a release from its GitHub page)',
        'warn  ssserver is not on PATH (shadowsocks-rust; needed only to run the plugin under it: cargo install shadowsocks-rust, or a release from its GitHub page)',
      ]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('reads the SS_* environment with the SDK reader and fails (exit 1) on a bad one', async () => {
    const { code, out } = await doctor([], { SS_REMOTE_HOST: '127.0.0.1', SS_REMOTE_PORT: 'x' });
    expect(code).toBe(1);
    expect(out).toContain(
      'fail  SS_* environment: SS_REMOTE_PORT must be an integer from 1 to 65535, got "x"',
    );
  });

  it('binds the port a plugin with this SS_* would listen on, and the given ones', async () => {
    const busy = await listening();
    const free = await listening();
    const freePort = portOf(free);
    free.close();
    await once(free, 'close');
    try {
      const env = {
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: String(freePort),
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: String(portOf(busy)),
        SS_PLUGIN_OPTIONS: 'obfs=http',
      };
      const client = await doctor(['--port', String(freePort)], env);
      expect(client.code).toBe(1);
      expect(client.out.slice(-3)).toEqual([
        `ok    SS_* environment: client side, listens on 127.0.0.1:${portOf(busy)}, dials 127.0.0.1:${freePort}`,
        `fail  127.0.0.1:${portOf(busy)} (SS_LOCAL): in use; stop what listens there or choose another port`,
        `ok    127.0.0.1:${freePort} (--port): free to listen on`,
      ]);
      // The "server" option: the plugin listens on SS_REMOTE instead.
      const server = await doctor(['--listen', `127.0.0.1:${portOf(busy)}`], {
        ...env,
        SS_PLUGIN_OPTIONS: 'server;obfs=http',
      });
      expect([server.code, ...server.out.slice(-3)]).toEqual([
        1,
        `ok    SS_* environment: server side, listens on 127.0.0.1:${freePort}, dials 127.0.0.1:${portOf(busy)}`,
        `ok    127.0.0.1:${freePort} (SS_REMOTE): free to listen on`,
        `fail  127.0.0.1:${portOf(busy)} (--listen): in use; stop what listens there or choose another port`,
      ]);
    } finally {
      busy.close();
    }
  });

  it('prints its help with exit 0', async () => {
    const { code, out } = await doctor(['--help']);
    expect([code, out[0]]).toEqual([0, expect.stringContaining('Usage: sip003 doctor [options]')]);
  });

  it('refuses a bad --port or --listen with one line and exit 64', async () => {
    expect(await doctor(['--port', '70000'])).toMatchObject({
      code: 64,
      err: ['sip003 doctor: --port: expected an integer from 1 to 65535, got "70000"'],
    });
    expect(await doctor(['--listen', 'nowhere'])).toMatchObject({
      code: 64,
      err: ['sip003 doctor: --listen: expected host:port, got "nowhere"'],
    });
  });
});
