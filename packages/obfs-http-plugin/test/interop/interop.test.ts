/**
 * Interop with simple-obfs 0.0.5 (Debian `obfs-local` / `obfs-server`) and shadowsocks-libev, for
 * obfs=http and obfs=tls: bare plugin pairs, the same pairs under ss-local/ss-server, and the
 * failover / raw-relay behaviour of our server. Every server side gets a failover that only
 * records, so a connection our server or obfs-server judged "not obfuscated" cannot pass
 * unnoticed (it would otherwise be relayed raw and still echo).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkTransfers,
  missingBinaries,
  seededBytes,
  sha256,
  socks5Connect,
  startEchoServer,
  startShadowsocks,
  type ShadowsocksPair,
  type TestServer,
} from '@sip003/sdk/testing';
import {
  MiB,
  MODES,
  PLUGIN,
  PLUGIN_TROUBLE,
  checkBareTransfers,
  curl,
  echoConcurrently,
  echoPayloads,
  isRunning,
  logsOf,
  startBarePair,
  startClientSide,
  startRecorder,
  startServerSide,
  startSniffer,
  unmatchedUpstreamStreams,
  type BarePair,
  type BarePairSpec,
  type Impl,
  type PluginProcess,
  type Recorder,
  type Sniffer,
} from './kit.ts';

const missing = missingBinaries(['obfs-local', 'obfs-server', 'ss-local', 'ss-server', 'curl']);
const skipReason = missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed)` : '';
const TRANSFER = 64 * MiB;
const ECHOES = 100;
const OBFS_HOST = 'www.bing.com';

const PAIRINGS: readonly { name: string; client: Impl; server: Impl }[] = [
  { name: 'our client ↔ our server', client: 'ours', server: 'ours' },
  { name: 'our client ↔ obfs-server', client: 'ours', server: 'c' },
  { name: 'obfs-local ↔ our server', client: 'c', server: 'ours' },
];

const mbps = (r: { mbps: number }): string => r.mbps.toFixed(0);

/** A loopback HTTP server answering `path` with `body` and 404 otherwise; keeps request lines. */
async function startPageServer(
  path: string,
  body: Buffer,
): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? '?'}`);
    if (req.url !== path) {
      res.statusCode = 404;
      res.end('not here\n');
      return;
    }
    res.setHeader('content-type', 'application/octet-stream');
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

beforeAll(() => {
  if (missing.length === 0)
    expect(existsSync(PLUGIN), `${PLUGIN} is missing: run pnpm build`).toBe(true);
});

describe.skipIf(missing.length > 0)(`bare plugin pairs, no shadowsocks${skipReason}`, () => {
  for (const mode of MODES) {
    for (const pairing of PAIRINGS) {
      describe(`obfs=${mode}: ${pairing.name}`, () => {
        const label = `bare obfs=${mode} ${pairing.name}`;
        let trap: Recorder;
        let echo: TestServer;
        let pair: BarePair;
        const spec = (): BarePairSpec => ({
          client: pairing.client,
          server: pairing.server,
          mode,
          clientOptions: `obfs-host=${OBFS_HOST}`,
          serverOptions: `obfs-host=${OBFS_HOST};failover=127.0.0.1:${trap.port}`,
        });

        beforeAll(async () => {
          trap = await startRecorder();
          echo = await startEchoServer();
          pair = await startBarePair(spec(), echo.port);
        }, 60_000);
        afterAll(async () => {
          await pair?.stop();
          await echo?.close();
          await trap?.close();
        });

        it(`${ECHOES} concurrent connections each echo a distinct payload`, async () => {
          const payloads = echoPayloads(ECHOES, mode === 'http' ? 11 : 12);
          const report = await echoConcurrently(pair.port, payloads, 60_000);
          console.info(
            `${label}: ${report.connections} concurrent echoes, ${(report.bytes / 1e6).toFixed(1)} MB each way, ${report.ms.toFixed(0)} ms`,
          );
          expect(unmatchedUpstreamStreams(echo.received, payloads)).toEqual([]);
        }, 90_000);

        it('moves 64 MiB each way, sha256-checked', async () => {
          const report = await checkBareTransfers((port) => startBarePair(spec(), port), TRANSFER);
          console.info(
            `${label}: upload ${mbps(report.upload)} MB/s, download ${mbps(report.download)} MB/s (64 MiB each)`,
          );
          expect(report.upload.bytes).toBe(TRANSFER);
          expect(report.download.bytes).toBe(TRANSFER);
        }, 150_000);

        it('sent nothing to the failover, both plugins still up, nothing logged as error', () => {
          expect(trap.received, `connections that reached the failover`).toEqual([]);
          expect(isRunning(pair.client), pair.output()).toBe(true);
          expect(isRunning(pair.server), pair.output()).toBe(true);
          expect(pair.output()).not.toMatch(PLUGIN_TROUBLE);
        });
      });
    }

    // ours ↔ ours could pass with both sides falling back to a raw relay; look at the wire.
    it(`obfs=${mode}: the hop between our client and our server carries the simple-obfs framing both ways`, async () => {
      const echo = await startEchoServer();
      const processes: PluginProcess[] = [];
      let sniffer: Sniffer | undefined;
      try {
        const server = await startServerSide('ours', mode, echo.port);
        processes.push(server);
        sniffer = await startSniffer(server.port);
        const client = await startClientSide('ours', mode, sniffer.port, `obfs-host=${OBFS_HOST}`);
        processes.push(client);
        const payload = seededBytes(5000, 77);
        await echoConcurrently(client.port, [payload], 20_000);
        const conns = sniffer.connections.filter((c) => c.c2s.length > 0);
        expect(conns).toHaveLength(1);
        const { c2s, s2c } = conns[0]!;
        if (mode === 'http') {
          const reqEnd = c2s.indexOf('\r\n\r\n');
          const head = c2s.subarray(0, reqEnd).toString('latin1');
          expect(
            head.startsWith(`GET / HTTP/1.1\r\nHost: ${OBFS_HOST}:${sniffer.port}\r\n`),
            head,
          ).toBe(true);
          expect(head).toContain('\r\nUpgrade: websocket\r\n');
          const sent = c2s.subarray(reqEnd + 4);
          expect(sent.length).toBeGreaterThan(0);
          expect(sent.equals(payload.subarray(0, sent.length))).toBe(true);
          const resEnd = s2c.indexOf('\r\n\r\n');
          const resHead = s2c.subarray(0, resEnd).toString('latin1');
          expect(resHead.startsWith('HTTP/1.1 101 Switching Protocols\r\n'), resHead).toBe(true);
          const back = s2c.subarray(resEnd + 4);
          expect(back.length).toBeGreaterThan(0);
          expect(back.equals(payload.subarray(0, back.length))).toBe(true);
        } else {
          expect(c2s.subarray(0, 3).toString('hex')).toBe('160301');
          expect(c2s[5]).toBe(0x01);
          expect(c2s.subarray(9, 11).toString('hex')).toBe('0303');
          expect(c2s.subarray(138, 140).toString('hex')).toBe('0023');
          const ticket = c2s.readUInt16BE(140);
          expect(ticket).toBeGreaterThan(0);
          expect(c2s.subarray(142, 142 + ticket).equals(payload.subarray(0, ticket))).toBe(true);
          expect(s2c.subarray(0, 5).toString('hex')).toBe('160301005b');
          expect(s2c.subarray(96, 105).toString('hex')).toBe('140303000101160303');
          expect(s2c.subarray(44, 76).equals(c2s.subarray(44, 76))).toBe(true);
          const finished = s2c.readUInt16BE(105);
          expect(finished).toBeGreaterThan(0);
          expect(s2c.subarray(107, 107 + finished).equals(payload.subarray(0, finished))).toBe(
            true,
          );
        }
        expect(logsOf(processes)).not.toMatch(PLUGIN_TROUBLE);
      } finally {
        await Promise.all(processes.map((p) => p.stop()));
        await sniffer?.close();
        await echo.close();
      }
    }, 60_000);
  }
});

describe.skipIf(missing.length > 0)(
  `under shadowsocks-libev (ss-local / ss-server)${skipReason}`,
  () => {
    const page = seededBytes(1_500_000, 42);
    let web: Awaited<ReturnType<typeof startPageServer>>;
    beforeAll(async () => {
      web = await startPageServer('/page', page);
    });
    afterAll(async () => {
      await web?.close();
    });

    const hosts = [
      { name: 'ss-local+our client ↔ ss-server+our server', client: 'ours', server: 'ours' },
      { name: 'ss-local+our client ↔ ss-server+obfs-server', client: 'ours', server: 'c' },
      { name: 'ss-local+obfs-local ↔ ss-server+our server', client: 'c', server: 'ours' },
    ] as const;

    for (const mode of MODES) {
      for (const combo of hosts) {
        describe(`obfs=${mode}: ${combo.name}`, () => {
          const label = `ss-libev obfs=${mode} ${combo.name}`;
          let trap: Recorder;
          let ss: ShadowsocksPair;
          beforeAll(async () => {
            trap = await startRecorder();
            ss = await startShadowsocks({
              clientPlugin: combo.client === 'ours' ? PLUGIN : 'obfs-local',
              clientPluginOptions: `obfs=${mode}`,
              serverPlugin: combo.server === 'ours' ? PLUGIN : 'obfs-server',
              serverPluginOptions: `${combo.server === 'ours' ? 'server;' : ''}obfs=${mode};failover=127.0.0.1:${trap.port}`,
            });
          }, 60_000);
          afterAll(async () => {
            await ss?.close();
            await trap?.close();
          });

          it('curl fetches a page through SOCKS5, sha256-checked', async () => {
            const r = await curl([
              '--fail',
              '--socks5',
              `127.0.0.1:${ss.socksPort}`,
              `http://127.0.0.1:${web.port}/page`,
            ]);
            expect(r.stderr).toBe('');
            expect(r.code).toBe(0);
            expect(r.body.length).toBe(page.length);
            expect(sha256(r.body)).toBe(sha256(page));
          });

          it('moves 64 MiB each way, sha256-checked', async () => {
            const report = await checkTransfers(
              (t) => socks5Connect(ss.socksPort, t.host, t.port),
              TRANSFER,
            );
            console.info(
              `${label}: upload ${mbps(report.upload)} MB/s, download ${mbps(report.download)} MB/s (64 MiB each)`,
            );
            expect(report.upload.bytes).toBe(TRANSFER);
            expect(report.download.bytes).toBe(TRANSFER);
          }, 150_000);

          it('sent nothing to the failover, hosts and plugins still up, nothing logged as error', () => {
            const logs = `--- ss-local ---\n${ss.local.output()}\n--- ss-server ---\n${ss.server.output()}`;
            expect(trap.received, 'connections that reached the failover').toEqual([]);
            expect(ss.local.child.exitCode, logs).toBeNull();
            expect(ss.server.child.exitCode, logs).toBeNull();
            expect(logs).not.toMatch(PLUGIN_TROUBLE);
            expect(logs).not.toMatch(/plugin service exit unexpectedly/);
          });
        });
      }
    }
  },
);

describe.skipIf(missing.length > 0)(`failover and non-obfuscated clients${skipReason}`, () => {
  const failoverPage = Buffer.concat([Buffer.from('failover page\n'), seededBytes(20_000, 99)]);
  const upstreamPage = Buffer.concat([Buffer.from('upstream page\n'), seededBytes(30_000, 98)]);

  for (const mode of MODES) {
    describe(`obfs=${mode}: our server with failover=host:port`, () => {
      let failover: Awaited<ReturnType<typeof startPageServer>>;
      let echo: TestServer;
      const processes: PluginProcess[] = [];
      let ours: PluginProcess;
      let reference: PluginProcess;
      beforeAll(async () => {
        failover = await startPageServer('/', failoverPage);
        echo = await startEchoServer();
        ours = await startServerSide(
          'ours',
          mode,
          echo.port,
          `failover=127.0.0.1:${failover.port}`,
        );
        processes.push(ours);
        // obfs-server with the same configuration, to pin down what the test expects.
        reference = await startServerSide(
          'c',
          mode,
          echo.port,
          `failover=127.0.0.1:${failover.port}`,
        );
        processes.push(reference);
      }, 60_000);
      afterAll(async () => {
        await Promise.all(processes.map((p) => p.stop()));
        await echo?.close();
        await failover?.close();
      });

      it('a plain curl to the server port gets the failover page (and so does obfs-server)', async () => {
        for (const server of [ours, reference]) {
          const before = failover.requests.length;
          const r = await curl(['--fail', `http://127.0.0.1:${server.port}/`]);
          expect(r.stderr, server.name).toBe('');
          expect(r.code, server.name).toBe(0);
          expect(sha256(r.body), server.name).toBe(sha256(failoverPage));
          expect(failover.requests.slice(before)).toEqual(['GET /']);
        }
        expect(echo.accepted, 'upstream connections').toBe(0);
      });

      it('a real obfs-local client through the same server still reaches upstream', async () => {
        const client = await startClientSide('c', mode, ours.port, `obfs-host=${OBFS_HOST}`);
        processes.push(client);
        const before = failover.requests.length;
        const payloads = echoPayloads(20, mode === 'http' ? 21 : 22);
        await echoConcurrently(client.port, payloads, 30_000);
        expect(failover.requests.length - before, 'requests that reached the failover').toBe(0);
        expect(unmatchedUpstreamStreams(echo.received, payloads)).toEqual([]);
        expect(logsOf([ours, client])).not.toMatch(PLUGIN_TROUBLE);
        expect(isRunning(ours)).toBe(true);
      }, 60_000);
    });

    describe(`obfs=${mode}: our server without failover`, () => {
      const processes: PluginProcess[] = [];
      let echo: TestServer;
      let web: Awaited<ReturnType<typeof startPageServer>>;
      let ss: ShadowsocksPair | undefined;
      beforeAll(async () => {
        echo = await startEchoServer();
        web = await startPageServer('/up', upstreamPage);
      });
      afterAll(async () => {
        await ss?.close();
        await Promise.all(processes.map((p) => p.stop()));
        await web?.close();
        await echo?.close();
      });

      it('relays a plain TCP client raw to upstream, both ways', async () => {
        const server = await startServerSide('ours', mode, echo.port);
        processes.push(server);
        // Neither "GET" nor a TLS handshake header: rejected at once in both modes.
        const payload = Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), seededBytes(40_000, 55)]);
        await echoConcurrently(server.port, [payload], 20_000);
        const received = echo.received.map((c) => Buffer.concat(c)).filter((b) => b.length > 0);
        expect(received).toHaveLength(1);
        expect(received[0]!.equals(payload.subarray(0, received[0]!.length))).toBe(true);
        expect(received[0]!.length).toBeGreaterThan(0);
        // echoConcurrently compared the answer byte for byte: no 101 header, no server flight.
        expect(server.proc.output()).not.toMatch(PLUGIN_TROUBLE);
      }, 30_000);

      it('a plain ss-local (no plugin) works through ss-server + our server', async () => {
        ss = await startShadowsocks({
          serverPlugin: PLUGIN,
          serverPluginOptions: `server;obfs=${mode}`,
        });
        const r = await curl([
          '--fail',
          '--socks5',
          `127.0.0.1:${ss.socksPort}`,
          `http://127.0.0.1:${web.port}/up`,
        ]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(sha256(r.body)).toBe(sha256(upstreamPage));
        expect(ss.server.output()).not.toMatch(PLUGIN_TROUBLE);
      }, 60_000);
    });
  }
});
