import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  checkTransfers,
  missingBinaries,
  seededBytes,
  sha256,
  socks5Connect,
  startShadowsocks,
  type ShadowsocksPair,
  curl,
} from '@sip003/sdk/testing';

const plugin = resolve(fileURLToPath(new URL('.', import.meta.url)), '../dist/noop-plugin');
const missing = missingBinaries(['ss-local', 'ss-server', 'curl']);
const MiB = 1024 * 1024;

describe.skipIf(missing.length > 0)(
  `noop-plugin under shadowsocks-libev${missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`,
  () => {
    let ss: ShadowsocksPair;
    let http: Server;
    const page = seededBytes(300_000, 42);

    beforeAll(async () => {
      expect(existsSync(plugin), `${plugin} is missing: run pnpm build`).toBe(true);
      http = createServer((_req, res) => {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(page);
      });
      http.listen(0, '127.0.0.1');
      await once(http, 'listening');
      ss = await startShadowsocks({
        clientPlugin: plugin,
        serverPlugin: plugin,
        serverPluginOptions: 'server',
      });
    });
    afterAll(async () => {
      await ss?.close();
      await new Promise<void>((r) => http?.close(() => r()));
    });

    it('carries a curl request through SOCKS5: ss-local → noop client → noop server → ss-server', async () => {
      const port = (http.address() as AddressInfo).port;
      const r = await curl([
        '--socks5',
        `127.0.0.1:${ss.socksPort}`,
        `http://127.0.0.1:${port}/page`,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(sha256(r.body)).toBe(sha256(page));
    });

    it('moves 64 MiB each way, sha256-checked', async () => {
      const report = await checkTransfers(
        (t) => socks5Connect(ss.socksPort, t.host, t.port),
        64 * MiB,
      );
      console.info(
        `noop under ss-libev: upload ${report.upload.mbps.toFixed(0)} MB/s, download ${report.download.mbps.toFixed(0)} MB/s`,
      );
      expect(report.upload.bytes).toBe(64 * MiB);
    }, 180_000);

    it('both plugins are still up and logged no failure', () => {
      expect(ss.local.child.exitCode).toBeNull();
      expect(ss.server.child.exitCode).toBeNull();
      expect(ss.local.output() + ss.server.output()).not.toMatch(/noop-plugin (error|warn)/);
    });
  },
);
