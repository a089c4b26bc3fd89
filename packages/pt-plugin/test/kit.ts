import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  freePort,
  isRunning,
  loopbackPluginEnv,
  seededBytes,
  startProcess,
  waitForPort,
  type ManagedProcess,
} from '@sip003/sdk/testing';

export const plugin = resolve(fileURLToPath(new URL('.', import.meta.url)), '../dist/pt-plugin');
export const MiB = 1024 * 1024;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `pt-plugin-test-${prefix}-`));
}

/** Polls a process's output for `pattern` (every 20 ms, at most `timeoutMs`). */
export async function waitForOutput(
  proc: ManagedProcess,
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < timeoutMs / 20 + 1 && Date.now() < deadline; i++) {
    const match = pattern.exec(proc.output());
    if (match !== null) return match;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${proc.output()}`);
}

export interface PtServer {
  readonly proc: ManagedProcess;
  readonly port: number;
  /** The line of client-options.txt. */
  readonly clientOptions: string;
}

/** Starts `pt-plugin` as a server in front of `upstreamPort`; resolves once it listens. */
export async function startServer(
  stateDir: string,
  upstreamPort: number,
  options = 'transport=obfs4',
): Promise<PtServer> {
  const port = await freePort();
  const proc = startProcess(
    plugin,
    [],
    loopbackPluginEnv(port, upstreamPort, `server;${options};state=${stateDir};log-level=debug`),
  );
  await waitForOutput(proc, /listening on 127\.0\.0\.1:\d+, forwarding/);
  const clientOptions = readFileSync(join(stateDir, 'client-options.txt'), 'utf8').trim();
  return { proc, port, clientOptions };
}

export interface PtClient {
  readonly proc: ManagedProcess;
  readonly port: number;
}

/** Starts `pt-plugin` as a client dialing `serverPort`; resolves once it listens. */
export async function startClient(serverPort: number, options: string): Promise<PtClient> {
  const port = await freePort();
  const proc = startProcess(plugin, [], loopbackPluginEnv(serverPort, port, options));
  await waitForPort(port, { child: proc.child });
  return { proc, port };
}

/** What the upstream saw of one connection. */
export interface UpstreamRecord {
  mode: string;
  bytes: number;
  sha256: string;
  ended: boolean;
}

export interface Upstream {
  readonly port: number;
  readonly accepted: number;
  readonly records: UpstreamRecord[];
  close(): Promise<void>;
}

/**
 * The server plugin's upstream (where ss-server would be). The first byte of a connection picks
 * the behaviour: `E` echoes everything (that byte included); `U` hashes what follows until the
 * peer's FIN and records it; `D` sends `downloadBytes` seeded bytes, then FIN.
 */
export async function startUpstream(downloadBytes: number): Promise<Upstream> {
  const records: UpstreamRecord[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      const mode = String.fromCharCode(first[0]!);
      if (mode === 'E') {
        socket.write(first);
        socket.pipe(socket);
      } else if (mode === 'U') {
        const record: UpstreamRecord = { mode, bytes: 0, sha256: '', ended: false };
        records.push(record);
        const hash = createHash('sha256');
        const add = (chunk: Buffer): void => {
          record.bytes += chunk.length;
          hash.update(chunk);
        };
        add(first.subarray(1));
        socket.on('data', add);
        socket.on('end', () => {
          record.sha256 = hash.digest('hex');
          record.ended = true;
          socket.end();
        });
      } else if (mode === 'D') {
        socket.end(seededBytes(downloadBytes, 11));
      } else {
        socket.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    records,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The PT child of a plugin: the pid it logs in "started ... pid=N". */
export async function ptPid(proc: ManagedProcess): Promise<number> {
  const match = await waitForOutput(proc, / started exec=\S+ pid=(\d+)/);
  return Number(match[1]);
}

/** Milliseconds until every pid is gone, polling every 10 ms up to `limitMs`. */
export async function timeToExit(pids: readonly number[], limitMs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < limitMs / 10 && pids.some(isRunning); i++)
    await new Promise((r) => setTimeout(r, 10));
  return performance.now() - t0;
}
