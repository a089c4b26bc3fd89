import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  checkTransfers,
  openConnection,
  hashStream,
  missingBinaries,
  seededBytes,
  sha256,
  socks5Connect,
  startShadowsocks,
  writeChunked,
  isRunning,
  type ShadowsocksPair,
  curl,
} from '@sip003/sdk/testing';
import {
  MiB,
  plugin,
  ptPid,
  startClient,
  startServer,
  startUpstream,
  tempDir,
  timeToExit,
  waitForOutput,
  type PtClient,
  type PtServer,
  type Upstream,
} from './kit.ts';

const missing = missingBinaries(['obfs4proxy', 'ss-local', 'ss-server', 'curl']);

/** Sends `bytes` seeded bytes after an `E` and checks the echo, without FIN (sha256 both ways). */
async function echoRoundTrip(port: number, bytes: number, seed: number): Promise<void> {
  const data = Buffer.concat([Buffer.from('E'), seededBytes(bytes, seed)]);
  const socket = await openConnection(port);
  try {
    const hash = createHash('sha256');
    let got = 0;
    const done = new Promise<void>((resolveDone, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`echo of ${data.length} bytes: ${got} back after 60 s`)),
        60_000,
      );
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        hash.update(chunk);
        if (got >= data.length) {
          clearTimeout(timer);
          resolveDone();
        }
      });
      socket.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`echo of ${data.length} bytes: closed after ${got}`));
      });
    });
    await writeChunked(socket, data, [65536], false);
    await done;
    expect(got).toBe(data.length);
    expect(hash.digest('hex')).toBe(sha256(data));
  } finally {
    socket.destroy();
  }
}

describe.skipIf(missing.length > 0)(
  `pt-plugin with obfs4proxy${missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`,
  () => {
    const stateDir = tempDir('obfs4');
    let upstream: Upstream;
    let server: PtServer;
    let client: PtClient;

    beforeAll(async () => {
      expect(existsSync(plugin), `${plugin} is missing: run pnpm build`).toBe(true);
      upstream = await startUpstream(4 * MiB);
      server = await startServer(stateDir, upstream.port);
      client = await startClient(server.port, `${server.clientOptions};connect-timeout=20`);
    });
    afterAll(async () => {
      await client?.proc.stop();
      await server?.proc.stop();
      await upstream?.close();
      rmSync(stateDir, { recursive: true, force: true });
    });

    it('writes the client options a client needs, and logs them', () => {
      expect(server.clientOptions).toMatch(/^transport=obfs4;cert=[A-Za-z0-9+/]{70};iat-mode=0$/);
      expect(server.proc.output()).toContain(
        `client options (also in ${stateDir}/client-options.txt): ${server.clientOptions}`,
      );
    });

    it('obfs4 pair: 16 MiB each way, sha256-checked', async () => {
      const t0 = performance.now();
      await echoRoundTrip(client.port, 16 * MiB, 1);
      console.info(
        `obfs4 pair: 16 MiB up + 16 MiB down in ${(performance.now() - t0).toFixed(0)} ms`,
      );
    });

    it('obfs4 pair: 100 concurrent connections, each intact', async () => {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => echoRoundTrip(client.port, 64 * 1024, 100 + i)),
      );
      console.info(`obfs4 pair: 100 x 64 KiB echoes in ${(performance.now() - t0).toFixed(0)} ms`);
    });

    it('half-close, client first: every byte before the FIN arrives, then the FIN', async () => {
      const data = seededBytes(MiB, 7);
      const socket = await openConnection(client.port);
      const closed = new Promise((r) => socket.once('close', r));
      socket.write('U');
      await writeChunked(socket, data, [65536], true);
      await closed;
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < 500 && Date.now() < deadline; i++) {
        if (upstream.records.some((r) => r.ended)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const record = upstream.records.find((r) => r.ended);
      expect(record).toMatchObject({ bytes: MiB, sha256: sha256(data), ended: true });
    });

    it('half-close, server first: every byte before the FIN arrives, then the FIN', async () => {
      const socket = await openConnection(client.port);
      const got = hashStream(socket, 30_000);
      socket.write('D');
      expect(await got).toEqual({ bytes: 4 * MiB, sha256: sha256(seededBytes(4 * MiB, 11)) });
      socket.destroy();
    });

    it('wrong cert: no byte reaches the upstream, and the client says why in one line', async () => {
      const before = upstream.accepted;
      const cert = /cert=([^;]+)/.exec(server.clientOptions)![1]!;
      const wrong = server.clientOptions.replace(
        cert,
        `${cert.startsWith('A') ? 'B' : 'A'}${cert.slice(1)}`,
      );
      const bad = await startClient(server.port, `${wrong};connect-timeout=2`);
      try {
        const socket = await openConnection(bad.port);
        // The client resets the connection it could not tunnel: expected here.
        socket.on('error', () => undefined);
        const closed = new Promise((r) => socket.once('close', r));
        socket.write('Esecret bytes');
        await closed;
        const line = await waitForOutput(
          bad.proc,
          /warn connection failed: obfs4 to 127\.0\.0\.1:\d+ failed: [^\n]*/,
        );
        console.info(`wrong cert, client log: ${line[0]}`);
        expect(line[0]).toMatch(/no tunnel .* within 2 s.*cert, iat-mode/);
        expect(upstream.accepted).toBe(before);
      } finally {
        await bad.proc.stop();
      }
    });

    it('a restart with the same state directory gives the same client options, and old clients still connect', async () => {
      const first = server.clientOptions;
      await server.proc.stop();
      server = await startServer(stateDir, upstream.port);
      expect(server.clientOptions).toBe(first);
      const again = await startClient(server.port, server.clientOptions);
      try {
        await echoRoundTrip(again.port, 64 * 1024, 3);
      } finally {
        await again.proc.stop();
      }
    });

    for (const side of ['client', 'server'] as const) {
      it(`SIGTERM (${side}): the plugin and its obfs4proxy both exit 0`, async () => {
        const other =
          side === 'client'
            ? await startClient(server.port, `${server.clientOptions};log-level=debug`)
            : await startServer(stateDir, upstream.port);
        const pt = await ptPid(other.proc);
        const exited = once(other.proc.child, 'exit');
        other.proc.child.kill('SIGTERM');
        const [code] = (await exited) as [number | null];
        expect(code).toBe(0);
        expect(isRunning(pt)).toBe(false);
        expect(other.proc.output()).toMatch(
          new RegExp(`obfs4proxy \\(obfs4 ${side}\\) exited \\(exit code 0\\)`),
        );
      });
    }
  },
);

describe.skipIf(missing.length > 0)('pt-plugin lifetimes', () => {
  const host = resolve(
    fileURLToPath(new URL('.', import.meta.url)),
    '../../sdk/test/fixtures/host.mjs',
  );

  for (const side of ['server', 'client'] as const) {
    it(`host SIGKILL (${side}): the plugin and its obfs4proxy are gone within 1 s`, async () => {
      const stateDir = tempDir(`kill-${side}`);
      const upstream = await startUpstream(0);
      let serverForClient: PtServer | undefined;
      const pids: number[] = [];
      try {
        let env: NodeJS.ProcessEnv;
        const { freePort } = await import('@sip003/sdk/testing');
        const port = await freePort();
        if (side === 'server') {
          env = {
            ...process.env,
            SS_REMOTE_HOST: '127.0.0.1',
            SS_REMOTE_PORT: String(port),
            SS_LOCAL_HOST: '127.0.0.1',
            SS_LOCAL_PORT: String(upstream.port),
            SS_PLUGIN_OPTIONS: `server;state=${stateDir}`,
          };
        } else {
          serverForClient = await startServer(stateDir, upstream.port);
          env = {
            ...process.env,
            SS_REMOTE_HOST: '127.0.0.1',
            SS_REMOTE_PORT: String(serverForClient.port),
            SS_LOCAL_HOST: '127.0.0.1',
            SS_LOCAL_PORT: String(port),
            SS_PLUGIN_OPTIONS: serverForClient.clientOptions,
          };
        }
        const hostProc = spawn(process.execPath, [host, 'pipe', plugin], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        hostProc.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
        pids.push(hostProc.pid!);
        const [line] = (await once(createInterface({ input: hostProc.stdout }), 'line')) as [
          string,
        ];
        const pluginPid = Number(line);
        pids.push(pluginPid);
        const deadline = Date.now() + 10_000;
        let pt: number | undefined;
        for (let i = 0; i < 500 && Date.now() < deadline && pt === undefined; i++) {
          pt = Number(/ started exec=\S+ pid=(\d+)/.exec(stderr)?.[1] ?? NaN) || undefined;
          if (pt === undefined) await new Promise((r) => setTimeout(r, 20));
        }
        expect(pt, stderr).toBeDefined();
        pids.push(pt!);
        expect(isRunning(pt!)).toBe(true);
        hostProc.kill('SIGKILL');
        const ms = await timeToExit([pluginPid, pt!], 5000);
        console.info(`host SIGKILL (${side}): plugin and obfs4proxy gone in ${ms.toFixed(0)} ms`);
        expect(isRunning(pluginPid)).toBe(false);
        expect(isRunning(pt!)).toBe(false);
        expect(ms).toBeLessThan(1000);
      } finally {
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await serverForClient?.proc.stop();
        await upstream.close();
        rmSync(stateDir, { recursive: true, force: true });
      }
    });
  }

  it('plugin SIGKILL: its obfs4proxy is gone within 1 s (stdin closes)', async () => {
    const stateDir = tempDir('kill-plugin');
    const upstream = await startUpstream(0);
    try {
      const server = await startServer(stateDir, upstream.port);
      const pt = await ptPid(server.proc);
      server.proc.child.kill('SIGKILL');
      const ms = await timeToExit([pt], 5000);
      console.info(`plugin SIGKILL: obfs4proxy gone in ${ms.toFixed(0)} ms`);
      expect(isRunning(pt)).toBe(false);
      expect(ms).toBeLessThan(1000);
    } finally {
      await upstream.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('obfs4proxy dying is a runtime failure: exit 1, quoting its last lines', async () => {
    const stateDir = tempDir('pt-dies');
    const upstream = await startUpstream(0);
    try {
      const server = await startServer(stateDir, upstream.port);
      const pt = await ptPid(server.proc);
      const exited = once(server.proc.child, 'exit');
      process.kill(pt, 'SIGKILL');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(1);
      expect(server.proc.output()).toMatch(
        /error \/usr\/bin\/obfs4proxy \(obfs4 server\) exited \(signal SIGKILL\); last output: "VERSION 1" \| "SMETHOD obfs4 /,
      );
    } finally {
      await upstream.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missing.length > 0)('pt-plugin obfs3', () => {
  it('obfs3 pair: 4 MiB each way, sha256-checked; client options need no arguments', async () => {
    const stateDir = tempDir('obfs3');
    const upstream = await startUpstream(0);
    let server: PtServer | undefined;
    let client: PtClient | undefined;
    try {
      server = await startServer(stateDir, upstream.port, 'transport=obfs3');
      expect(server.clientOptions).toBe('transport=obfs3');
      client = await startClient(server.port, server.clientOptions);
      await echoRoundTrip(client.port, 4 * MiB, 9);
    } finally {
      await client?.proc.stop();
      await server?.proc.stop();
      await upstream.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missing.length > 0)('pt-plugin under shadowsocks-libev (obfs4)', () => {
  let ss: ShadowsocksPair;
  let http: Server;
  const stateDir = tempDir('ss');
  const page = seededBytes(300_000, 42);

  beforeAll(async () => {
    http = createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () =>
        s.end(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 200 OK\r\ncontent-length: ${page.length}\r\nconnection: close\r\n\r\n`,
            ),
            page,
          ]),
        ),
      );
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    // The server's keys come from its state directory: make them once, then every ss-server
    // start with that directory has the cert the client is given.
    const upstream = await startUpstream(0);
    const first = await startServer(stateDir, upstream.port);
    await first.proc.stop();
    await upstream.close();
    ss = await startShadowsocks({
      clientPlugin: plugin,
      clientPluginOptions: first.clientOptions,
      serverPlugin: plugin,
      serverPluginOptions: `server;state=${stateDir}`,
      readyTimeoutMs: 20_000,
    });
    expect(readFileSync(`${stateDir}/client-options.txt`, 'utf8').trim()).toBe(first.clientOptions);
  });
  afterAll(async () => {
    await ss?.close();
    await new Promise<void>((r) => (http === undefined ? r() : http.close(() => r())));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('carries curl through SOCKS5: ss-local → pt-plugin → obfs4 → pt-plugin → ss-server', async () => {
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

  it('16 MiB each way, sha256-checked', async () => {
    const report = await checkTransfers(
      (target) => socks5Connect(ss.socksPort, target.host, target.port),
      16 * MiB,
    );
    console.info(
      `ss-libev + obfs4: upload ${report.upload.mbps.toFixed(1)} MB/s, download ${report.download.mbps.toFixed(1)} MB/s`,
    );
  });
});
