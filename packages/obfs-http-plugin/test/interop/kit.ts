/**
 * Helpers for the interop suite: our built plugin and the C simple-obfs 0.0.5 binaries started as
 * bare SIP003 pairs (no shadowsocks host), a failover trap, a wire sniffer, the 100-connection echo
 * check and a 64 MiB transfer check for pairs whose upstream is fixed by the server's SS_LOCAL.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  collect,
  openConnection,
  freePort,
  hashStream,
  loopbackPluginEnv,
  seededBytes,
  sha256,
  startHashServer,
  startProcess,
  startSourceServer,
  waitForPort,
  writeChunked,
  type ManagedProcess,
  type TestServer,
} from '@sip003/sdk/testing';

export const PLUGIN = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../dist/obfs-http-plugin',
);
export const MiB = 1024 * 1024;
export type Mode = 'http' | 'tls';
export const MODES: readonly Mode[] = ['http', 'tls'];
/** Which implementation plays a side: this package's build, or simple-obfs 0.0.5 (C). */
export type Impl = 'ours' | 'c';

/** Log lines that mean something went wrong on a plugin (ours, or simple-obfs). */
export const PLUGIN_TROUBLE = /obfs-http-plugin (error|warn)|\[simple-obfs\] ERROR/;

/** One plugin process started with a SIP003 environment. */
export interface PluginProcess {
  readonly name: string;
  /** Where it listens. */
  readonly port: number;
  readonly proc: ManagedProcess;
  stop(): Promise<void>;
}

async function launch(
  name: string,
  command: string,
  port: number,
  env: NodeJS.ProcessEnv,
): Promise<PluginProcess> {
  const proc = startProcess(command, [], env);
  try {
    await waitForPort(port, { child: proc.child, timeoutMs: 15_000 });
  } catch (error) {
    await proc.stop();
    throw new Error(`${name} did not start: ${(error as Error).message}\n${proc.output()}`, {
      cause: error,
    });
  }
  return { name, port, proc, stop: () => proc.stop() };
}

const joinOptions = (parts: readonly (string | undefined)[]): string =>
  parts.filter((p): p is string => p !== undefined && p !== '').join(';');

/**
 * The server side: ours with `server;obfs=<mode>`, or obfs-server with `obfs=<mode>`; plus
 * `options` (e.g. `failover=127.0.0.1:1234`). Listens on a free port, dials `upstreamPort`.
 */
export async function startServerSide(
  impl: Impl,
  mode: Mode,
  upstreamPort: number,
  options = '',
): Promise<PluginProcess> {
  const port = await freePort();
  const opts = joinOptions([impl === 'ours' ? 'server' : undefined, `obfs=${mode}`, options]);
  const name = `${impl === 'ours' ? 'our server' : 'obfs-server'} (${opts})`;
  return launch(
    name,
    impl === 'ours' ? PLUGIN : 'obfs-server',
    port,
    loopbackPluginEnv(port, upstreamPort, opts),
  );
}

/** The client side: ours or obfs-local with `obfs=<mode>` plus `options`, dialing `serverPort`. */
export async function startClientSide(
  impl: Impl,
  mode: Mode,
  serverPort: number,
  options = '',
): Promise<PluginProcess> {
  const port = await freePort();
  const opts = joinOptions([`obfs=${mode}`, options]);
  const name = `${impl === 'ours' ? 'our client' : 'obfs-local'} (${opts})`;
  return launch(
    name,
    impl === 'ours' ? PLUGIN : 'obfs-local',
    port,
    loopbackPluginEnv(serverPort, port, opts),
  );
}

/** Client plugin → server plugin → upstream, without shadowsocks. Connect to `port`. */
export interface BarePair {
  readonly port: number;
  readonly client: PluginProcess;
  readonly server: PluginProcess;
  /** Both processes' logs, labelled. */
  output(): string;
  stop(): Promise<void>;
}

export interface BarePairSpec {
  client: Impl;
  server: Impl;
  mode: Mode;
  clientOptions?: string;
  serverOptions?: string;
}

export async function startBarePair(spec: BarePairSpec, upstreamPort: number): Promise<BarePair> {
  const server = await startServerSide(spec.server, spec.mode, upstreamPort, spec.serverOptions);
  let client: PluginProcess;
  try {
    client = await startClientSide(spec.client, spec.mode, server.port, spec.clientOptions);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    port: client.port,
    client,
    server,
    output: () => logsOf([client, server]),
    async stop() {
      await Promise.all([client.stop(), server.stop()]);
    },
  };
}

export function logsOf(processes: readonly PluginProcess[]): string {
  return processes.map((p) => `--- ${p.name} ---\n${p.proc.output()}`).join('\n');
}

export function isRunning(p: PluginProcess): boolean {
  return p.proc.child.exitCode === null && p.proc.child.signalCode === null;
}

/** A TCP server that only records: used as `failover=` target to prove nothing was rejected. */
export interface Recorder {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes received per connection (all of them). */
  readonly received: Buffer[];
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const sockets = new Set<Socket>();
  const received: Buffer[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const index = received.push(Buffer.alloc(0)) - 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (c: Buffer) => {
      received[index] = Buffer.concat([received[index]!, c]);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return received.length;
    },
    received,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A transparent relay that keeps the first `keep` bytes of each direction of each connection. */
export interface Sniffer {
  readonly port: number;
  readonly connections: { c2s: Buffer; s2c: Buffer }[];
  close(): Promise<void>;
}

export async function startSniffer(targetPort: number, keep = 4096): Promise<Sniffer> {
  const sockets = new Set<Socket>();
  const connections: { c2s: Buffer; s2c: Buffer }[] = [];
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (inbound) => {
    const record = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
    connections.push(record);
    sockets.add(inbound);
    inbound.pause();
    inbound.on('error', () => undefined);
    inbound.on('close', () => sockets.delete(inbound));
    openConnection(targetPort).then(
      (outbound) => {
        sockets.add(outbound);
        outbound.on('error', () => inbound.destroy());
        inbound.on('error', () => outbound.destroy());
        outbound.on('close', () => sockets.delete(outbound));
        inbound.on('data', (c: Buffer) => {
          if (record.c2s.length < keep) record.c2s = Buffer.concat([record.c2s, c]);
        });
        outbound.on('data', (c: Buffer) => {
          if (record.s2c.length < keep) record.s2c = Buffer.concat([record.s2c, c]);
        });
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.resume();
      },
      () => inbound.destroy(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * `count` distinct payloads: fixed sizes around obfs-local's 2048-byte reads and the 16384-byte
 * record limit first, then pseudo-random sizes up to ~120 KB.
 */
export function echoPayloads(count: number, seed: number): Buffer[] {
  const fixed = [1, 3, 11, 143, 2047, 2048, 2049, 4096, 16383, 16384, 16385, 16491, 65536, 120_000];
  const sizes = seededBytes(4 * count, seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const size = fixed[i] ?? 1 + (sizes.readUInt32LE(4 * i) % 120_000);
    out.push(seededBytes(size, seed * 1000 + i + 1));
  }
  return out;
}

/**
 * Sends `payload` (in two writes, no FIN) and waits for exactly the same bytes back, then
 * destroys the socket. simple-obfs turns a FIN into a full close, so nothing is half-closed.
 */
async function echoOne(port: number, payload: Buffer, timeoutMs: number): Promise<void> {
  const socket = await openConnection(port);
  await new Promise<void>((resolveEcho, rejectEcho) => {
    const chunks: Buffer[] = [];
    let got = 0;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolveEcho();
      else rejectEcho(error);
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`no full echo within ${timeoutMs} ms (${got}/${payload.length} bytes)`)),
      timeoutMs,
    );
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got < payload.length) return;
      const all = Buffer.concat(chunks);
      if (all.equals(payload)) return finish();
      let at = 0;
      while (at < Math.min(all.length, payload.length) && all[at] === payload[at]) at++;
      finish(
        new Error(
          `echo of ${payload.length} bytes came back as ${all.length} bytes, first difference at offset ${at}: got ${all.subarray(at, at + 16).toString('hex')}, sent ${payload.subarray(at, at + 16).toString('hex')}`,
        ),
      );
    });
    socket.on('end', () => finish(new Error(`peer closed after ${got}/${payload.length} bytes`)));
    socket.on('error', (e) => finish(new Error(`socket error after ${got} bytes: ${e.message}`)));
    const cut = Math.min(payload.length, 1 + (payload.length >> 3));
    socket.write(payload.subarray(0, cut));
    if (cut < payload.length) setImmediate(() => socket.write(payload.subarray(cut)));
  });
}

export interface EchoReport {
  connections: number;
  bytes: number;
  ms: number;
}

/** Runs one echo per payload, all at once, through `port`; throws listing the failures. */
export async function echoConcurrently(
  port: number,
  payloads: readonly Buffer[],
  timeoutMs = 60_000,
): Promise<EchoReport> {
  const t0 = performance.now();
  const results = await Promise.allSettled(payloads.map((p) => echoOne(port, p, timeoutMs)));
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [`#${i} (${payloads[i]!.length} bytes): ${(r.reason as Error).message}`]
      : [],
  );
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${payloads.length} echoes failed:\n${failures.slice(0, 8).join('\n')}`,
    );
  }
  return {
    connections: payloads.length,
    bytes: payloads.reduce((n, p) => n + p.length, 0),
    ms: performance.now() - t0,
  };
}

/**
 * Checks what an echo upstream received: one connection per payload, each starting with that
 * payload's own bytes (so no HTTP header or TLS framing leaked through the server plugin).
 * `received` is the kit echo server's per-connection chunk list (it keeps up to 64 chunks).
 */
export function unmatchedUpstreamStreams(
  received: readonly Buffer[][],
  payloads: readonly Buffer[],
): string[] {
  const streams = received
    .map((chunks) => Buffer.concat(chunks))
    .filter((b) => b.length > 0)
    .sort((a, b) => b.length - a.length);
  const unused = new Set(payloads.map((_, i) => i));
  const problems: string[] = [];
  if (streams.length !== payloads.length)
    problems.push(
      `upstream saw ${streams.length} connections with data, expected ${payloads.length}`,
    );
  for (const s of streams) {
    let match: number | undefined;
    for (const i of unused) {
      const p = payloads[i]!;
      if (s.length <= p.length && p.subarray(0, s.length).equals(s)) {
        match = i;
        break;
      }
    }
    if (match === undefined)
      problems.push(
        `upstream got ${s.length} bytes matching no payload: ${s.subarray(0, 32).toString('hex')}`,
      );
    else unused.delete(match);
  }
  return problems;
}

/** Large test buffers, generated once per test file. */
const dataCache = new Map<string, { data: Buffer; sha: string }>();
export function cachedBytes(bytes: number, seed: number): { data: Buffer; sha: string } {
  const key = `${bytes}/${seed}`;
  let entry = dataCache.get(key);
  if (entry === undefined) {
    const data = seededBytes(bytes, seed);
    entry = { data, sha: sha256(data) };
    dataCache.set(key, entry);
  }
  return entry;
}

export interface DirectionReport {
  bytes: number;
  mbps: number;
}

/**
 * `checkTransfers` for bare pairs, whose upstream is fixed by the server side's SS_LOCAL: one pair
 * to a hash sink, one pair to a seeded source (started by `startPair(upstreamPort)`), the same
 * framing as the kit (8-byte length, sha256 answer; no FIN before the answer). The download sends
 * one byte first, because neither obfs-local nor our client dials before the app has spoken.
 */
export async function checkBareTransfers(
  startPair: (upstreamPort: number) => Promise<BarePair>,
  bytes: number,
  seed = 5,
): Promise<{ upload: DirectionReport; download: DirectionReport }> {
  const sink = await startHashServer();
  const source = await startSourceServer(bytes, seed + 1);
  const pairs: BarePair[] = [];
  try {
    pairs.push(await startPair(sink.port));
    pairs.push(await startPair(source.port));
    const [upPair, downPair] = pairs as [BarePair, BarePair];
    const up = cachedBytes(bytes, seed);
    const wantDown = cachedBytes(bytes, seed + 1).sha;

    let t0 = performance.now();
    const upSocket = await openConnection(upPair.port);
    const answer = collect(upSocket, 60_000);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(bytes));
    upSocket.write(length);
    await writeChunked(upSocket, up.data, [65536], false);
    const [gotSha, gotBytes] = (await answer).toString().trim().split(' ');
    const upMs = performance.now() - t0;
    upSocket.destroy();
    if (gotSha !== up.sha)
      throw new Error(
        `upload of ${bytes} bytes: sink got ${gotBytes ?? '?'} bytes with sha256 ${gotSha ?? '?'}, expected ${up.sha}\n${upPair.output()}`,
      );

    t0 = performance.now();
    const downSocket = await openConnection(downPair.port);
    const hashed = hashStream(downSocket, 60_000);
    downSocket.write('x');
    const got = await hashed;
    const downMs = performance.now() - t0;
    downSocket.destroy();
    if (got.sha256 !== wantDown)
      throw new Error(
        `download of ${bytes} bytes: got ${got.bytes} bytes with sha256 ${got.sha256}, expected ${wantDown}\n${downPair.output()}`,
      );
    return {
      upload: { bytes, mbps: bytes / 1e6 / (upMs / 1000) },
      download: { bytes, mbps: bytes / 1e6 / (downMs / 1000) },
    };
  } finally {
    await Promise.all(pairs.map((p) => p.stop()));
    await sink.close();
    await source.close();
  }
}

export { curl } from '@sip003/sdk/testing';

export type { TestServer };
