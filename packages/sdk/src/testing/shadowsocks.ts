import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { socks5Dial } from '../pt/socks5.ts';
import { freePort, startProcess, waitForPort, type ManagedProcess } from './processes.ts';
import {
  collect,
  hashStream,
  seededBytes,
  sha256,
  startHashServer,
  startSourceServer,
  writeChunked,
  readAtLeast,
} from './servers.ts';

export interface ShadowsocksOptions {
  /** Plugin executable for ss-local; omit for no plugin. */
  clientPlugin?: string;
  clientPluginOptions?: string;
  /** Plugin executable for ss-server; omit for no plugin. */
  serverPlugin?: string;
  serverPluginOptions?: string;
  method?: string;
  password?: string;
  /** Environment for both hosts (their plugins inherit it). */
  env?: NodeJS.ProcessEnv;
  /** How long the whole chain may take to answer an echo probe (default 15 s). */
  readyTimeoutMs?: number;
}

/** A running ss-server + ss-local pair (shadowsocks-libev) with SOCKS5 on `socksPort`. */
export interface ShadowsocksPair {
  readonly socksPort: number;
  readonly serverPort: number;
  readonly server: ManagedProcess;
  readonly local: ManagedProcess;
  close(): Promise<void>;
}

/** Starts of a pair tried when a plugin cannot listen on the port its host picked for it. */
const START_ATTEMPTS = 3;

/**
 * Starts real `ss-server` and `ss-local` on loopback with `--plugin`, exactly as an admin would,
 * and waits until the whole chain echoes. The server's public port is where its plugin listens.
 *
 * ss-libev picks the port between host and plugin itself (bind to port 0, close, pass the number
 * on), so another socket on a busy machine can take it before the plugin listens: the plugin then
 * exits with EADDRINUSE and the host with it. That race is the host's; such a start is retried
 * with fresh ports, up to 3 times in all. Any other failure is thrown at once.
 */
export async function startShadowsocks(options: ShadowsocksOptions = {}): Promise<ShadowsocksPair> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startShadowsocksOnce(options);
    } catch (error) {
      if (!(error as Error).message.includes('EADDRINUSE')) throw error;
      lastError = error;
    }
  }
  throw new Error(
    `shadowsocks did not start in ${START_ATTEMPTS} attempts, each time a plugin port was taken: ${(lastError as Error).message}`,
    { cause: lastError },
  );
}

async function startShadowsocksOnce(options: ShadowsocksOptions): Promise<ShadowsocksPair> {
  const method = options.method ?? 'chacha20-ietf-poly1305';
  const password = options.password ?? 'sip003-interop';
  const env = options.env ?? process.env;
  const serverPort = await freePort();
  const socksPort = await freePort();
  const pluginArgs = (plugin: string | undefined, opts: string | undefined): string[] =>
    plugin === undefined
      ? []
      : ['--plugin', plugin, ...(opts === undefined ? [] : ['--plugin-opts', opts])];
  const server = startProcess(
    'ss-server',
    [
      '-s',
      '127.0.0.1',
      '-p',
      String(serverPort),
      '-k',
      password,
      '-m',
      method,
      '-u',
      ...pluginArgs(options.serverPlugin, options.serverPluginOptions),
    ],
    env,
  );
  try {
    await waitForPort(serverPort, { child: server.child });
  } catch (error) {
    await server.stop();
    throw new Error(`ss-server did not start: ${(error as Error).message}\n${server.output()}`, {
      cause: error,
    });
  }
  const local = startProcess(
    'ss-local',
    [
      '-s',
      '127.0.0.1',
      '-p',
      String(serverPort),
      '-l',
      String(socksPort),
      '-b',
      '127.0.0.1',
      '-k',
      password,
      '-m',
      method,
      ...pluginArgs(options.clientPlugin, options.clientPluginOptions),
    ],
    env,
  );
  try {
    await waitForPort(socksPort, { child: local.child });
  } catch (error) {
    await Promise.all([local.stop(), server.stop()]);
    throw new Error(`ss-local did not start: ${(error as Error).message}\n${local.output()}`, {
      cause: error,
    });
  }
  const pair: ShadowsocksPair = {
    socksPort,
    serverPort,
    server,
    local,
    async close() {
      await Promise.all([local.stop(), server.stop()]);
    },
  };
  try {
    await waitForTunnel(socksPort, options.readyTimeoutMs);
  } catch (error) {
    await pair.close();
    throw new Error(
      `${(error as Error).message}\n--- ss-server ---\n${server.output()}\n--- ss-local ---\n${local.output()}`,
      { cause: error },
    );
  }
  return pair;
}

/**
 * Hosts start their plugins without waiting for them (ss-libev binds at once), so a listening
 * SOCKS port says nothing about the plugins. Probe the whole chain with an echo until it answers.
 */
async function waitForTunnel(socksPort: number, timeoutMs = 15_000): Promise<void> {
  const echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const { port } = echo.address() as AddressInfo;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  try {
    for (let i = 0; i < 500 && Date.now() < deadline; i++) {
      try {
        const s = await socks5Connect(socksPort, '127.0.0.1', port, 2000);
        // No FIN here: ss-libev turns a half-close into a full close.
        s.write('ping');
        const got = await readAtLeast(s, 4, 2000);
        s.destroy();
        if (got.toString() === 'ping') return;
        last = new Error(`echo answered ${JSON.stringify(got.toString())}`);
      } catch (error) {
        last = error;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await new Promise<void>((r) => echo.close(() => r()));
  }
  throw new Error(
    `the shadowsocks chain on SOCKS port ${socksPort} did not echo within ${timeoutMs} ms: ${(last as Error | undefined)?.message ?? 'no attempt'}`,
  );
}

/**
 * Opens a SOCKS5 CONNECT tunnel to `host:port` (IPv4/IPv6 literal or name) through a proxy on
 * loopback. The SDK's one SOCKS5 client ({@link socks5Dial}); rejects, never throws uncaught.
 */
export function socks5Connect(
  proxyPort: number,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<Socket> {
  return socks5Dial({
    proxy: { host: '127.0.0.1', port: proxyPort },
    target: { host, port },
    timeoutMs,
  });
}

/** Result of {@link checkTransfers}: sizes and MB/s of each direction. */
export interface TransferReport {
  upload: { bytes: number; mbps: number };
  download: { bytes: number; mbps: number };
}

/**
 * Moves `bytes` each way through a tunnel opener (SOCKS5 through ss-local, or a plain plugin
 * port), sha256-checked: an upload to a hashing sink and a download from a seeded source. Sends
 * no FIN before the answer, so it also works through hosts without half-close.
 * Throws with both hashes when a byte is lost, added or changed.
 */
export async function checkTransfers(
  open: (target: { host: string; port: number }) => Promise<Socket>,
  bytes: number,
  seed = 5,
): Promise<TransferReport> {
  const sink = await startHashServer();
  const source = await startSourceServer(bytes, seed + 1);
  try {
    const data = seededBytes(bytes, seed);
    const want = sha256(data);
    let t0 = performance.now();
    const up = await open({ host: sink.host, port: sink.port });
    const answer = collect(up, 300_000);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(bytes));
    up.write(length);
    await writeChunked(up, data, [65536], false);
    const [gotSha, gotBytes] = (await answer).toString().trim().split(' ');
    const upMs = performance.now() - t0;
    if (gotSha !== want)
      throw new Error(
        `upload of ${bytes} bytes: sink got ${gotBytes ?? '?'} bytes with sha256 ${gotSha ?? '?'}, expected ${want}`,
      );
    t0 = performance.now();
    const down = await open({ host: source.host, port: source.port });
    const got = await hashStream(down, 300_000);
    const downMs = performance.now() - t0;
    const wantDown = sha256(seededBytes(bytes, seed + 1));
    if (got.sha256 !== wantDown)
      throw new Error(
        `download of ${bytes} bytes: got ${got.bytes} bytes with sha256 ${got.sha256}, expected ${wantDown}`,
      );
    return {
      upload: { bytes, mbps: bytes / 1e6 / (upMs / 1000) },
      download: { bytes, mbps: bytes / 1e6 / (downMs / 1000) },
    };
  } finally {
    await sink.close();
    await source.close();
  }
}

/** What {@link curl} saw: curl's exit code, the body it printed, its stderr. */
export interface CurlResult {
  code: number | null;
  body: Buffer;
  stderr: string;
}

/**
 * Runs `curl -sS --max-time 20 <args>` (e.g. `--socks5 127.0.0.1:<ss-local port> <url>`, as a
 * user checks a shadowsocks chain) and collects what it printed; killed after 30 s whatever it
 * is doing.
 */
export async function curl(args: readonly string[]): Promise<CurlResult> {
  const child = spawn('curl', ['-sS', '--max-time', '20', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = await exited;
  clearTimeout(timer);
  return { code, body: Buffer.concat(chunks), stderr };
}
