import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  findBinary,
  missingBinaries,
  seededBytes,
  sha256,
  startShadowsocks,
  curl,
} from '@sip003/sdk/testing';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const standalone = resolve(root, 'dist/bin/obfs-http-plugin');
const standaloneArm64 = resolve(root, 'dist/bin/obfs-http-plugin-linux-arm64');
const plain = resolve(root, 'packages/obfs-http-plugin/dist/obfs-http-plugin');
const sip003 = resolve(root, 'packages/sdk/bin/sip003.js');
const missing = missingBinaries(['ss-local', 'ss-server', 'curl']);
const noQemu = missingBinaries(['qemu-aarch64-static']);

/** `--version` of a standalone: the plugin, then the node inside and the platform. */
const VERSION_LINE = /^obfs-http-plugin \d+\.\d+\.\d+ \(node v(\d+)\.\d+\.\d+, (linux-\w+)\)\n$/;
/** Node 20 is end-of-life since 2026-04-30: a release must embed a supported one. */
const MIN_NODE_MAJOR = 24;

/** A PATH holding only the shadowsocks binaries: no node anywhere on it. */
async function pathWithoutNode(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sip003-nonode-'));
  for (const name of ['ss-local', 'ss-server']) await symlink(findBinary(name)!, join(dir, name));
  return dir;
}

describe('the standalone executable (pnpm bundle → dist/bin/obfs-http-plugin)', () => {
  it('exists and answers --version and --help without node on PATH', () => {
    expect(existsSync(standalone), `${standalone} is missing: run pnpm bundle`).toBe(true);
    const env = { PATH: '/nonexistent' };
    const version = spawnSync(standalone, ['--version'], { encoding: 'utf8', env });
    expect(version.stderr).toBe('');
    const [, major, platform] = VERSION_LINE.exec(version.stdout) ?? [];
    expect(version.stdout).toMatch(VERSION_LINE);
    expect(Number(major)).toBeGreaterThanOrEqual(MIN_NODE_MAJOR);
    expect(platform).toBe('linux-x64');
    const help = spawnSync(standalone, ['--help'], { encoding: 'utf8', env });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('obfs-host');
    expect(help.stderr).toBe('');
  });

  describe.skipIf(missing.length > 0)(
    `under ss-local/ss-server with no node on PATH${missing.length > 0 ? ` (skipped: ${missing.join(', ')} missing)` : ''}`,
    () => {
      let bin: string;
      let http: Server;
      const page = seededBytes(200_000, 11);
      beforeAll(async () => {
        bin = await pathWithoutNode();
        expect(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: bin } }).status).not.toBe(
          0,
        );
        http = createServer((_req, res) => res.end(page));
        http.listen(0, '127.0.0.1');
        await once(http, 'listening');
      });
      afterAll(async () => {
        await new Promise<void>((r) => http?.close(() => r()));
        if (bin !== undefined) await rm(bin, { recursive: true, force: true });
      });

      it('carries a curl request through SOCKS5 (obfs=tls)', async () => {
        const ss = await startShadowsocks({
          clientPlugin: standalone,
          clientPluginOptions: 'obfs=tls;obfs-host=www.bing.com',
          serverPlugin: standalone,
          serverPluginOptions: 'server;obfs=tls',
          env: { PATH: bin },
        });
        try {
          const r = await curl([
            '--socks5',
            `127.0.0.1:${ss.socksPort}`,
            `http://127.0.0.1:${(http.address() as AddressInfo).port}/`,
          ]);
          expect(r.code).toBe(0);
          expect(sha256(r.body)).toBe(sha256(page));
        } finally {
          await ss.close();
        }
      });

      it('(control) the plain bundle cannot start there, because it needs node', async () => {
        await expect(
          startShadowsocks({
            clientPlugin: plain,
            clientPluginOptions: 'obfs=tls',
            serverPlugin: standalone,
            serverPluginOptions: 'server;obfs=tls',
            env: { PATH: bin },
            readyTimeoutMs: 3000,
          }),
        ).rejects.toThrow(/did not (echo|start)/);
        const direct = spawnSync(plain, ['--version'], { encoding: 'utf8', env: { PATH: bin } });
        expect(direct.stderr).toMatch(/node: not found|node.?: No such file or directory/);
      }, 30_000);
    },
  );

  describe.skipIf(noQemu.length > 0)(
    `linux-arm64, under qemu-user${noQemu.length > 0 ? ' (skipped: qemu-aarch64-static missing)' : ''}`,
    () => {
      let dir: string;
      let arm64: string;
      beforeAll(async () => {
        expect(existsSync(standaloneArm64), `${standaloneArm64} is missing: run pnpm bundle`).toBe(
          true,
        );
        // What binfmt_misc does on a box that registers qemu: run the arm64 file through it.
        dir = await mkdtemp(join(tmpdir(), 'sip003-arm64-'));
        arm64 = join(dir, 'obfs-http-plugin');
        await writeFile(
          arm64,
          `#!/bin/sh\nexec ${JSON.stringify(findBinary('qemu-aarch64-static'))} ${JSON.stringify(standaloneArm64)} "$@"\n`,
        );
        await chmod(arm64, 0o755);
      });
      afterAll(async () => {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      });

      it('answers --version with its node and linux-arm64', () => {
        const version = spawnSync(arm64, ['--version'], {
          encoding: 'utf8',
          env: { PATH: '/nonexistent' },
          timeout: 60_000,
        });
        expect(version.stderr).toBe('');
        const [, major, platform] = VERSION_LINE.exec(version.stdout) ?? [];
        expect(version.stdout).toMatch(VERSION_LINE);
        expect(Number(major)).toBeGreaterThanOrEqual(MIN_NODE_MAJOR);
        expect(platform).toBe('linux-arm64');
      }, 60_000);

      it('runs as a client/server pair that carries 1 MiB intact (sip003 run)', () => {
        // A child with a deadline: sip003 run ends its plugins when it ends or is killed.
        const run = spawnSync(
          process.execPath,
          [sip003, 'run', arm64, '--options', 'obfs=tls;obfs-host=www.bing.com', '--bytes', '1MiB'],
          { encoding: 'utf8', timeout: 180_000, killSignal: 'SIGTERM' },
        );
        expect(run.signal, run.stderr).toBe(null);
        expect(run.stdout).toMatch(
          /OK: 1048576 bytes went through the plugin pair to the echo server and back intact/,
        );
        expect(run.status).toBe(0);
      }, 200_000);
    },
  );
});
