import { once } from 'node:events';
import { createServer, isIP, type AddressInfo, type Socket } from 'node:net';
import { freePort, startProcess, waitForPort, type ManagedProcess } from './processes.ts';
import {
  collect,
  openConnection,
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

/** SOCKS5 DST.ADDR: ATYP 1 (IPv4), 4 (IPv6, brackets allowed) or 3 (a name, up to 255 bytes). */
function socksAddress(host: string): Buffer {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return Buffer.from([1, ...bare.split('.').map(Number)]);
  if (family === 6) return Buffer.concat([Buffer.from([4]), ipv6Bytes(bare)]);
  const name = Buffer.from(host);
  if (name.length === 0 || name.length > 255)
    throw new Error(`SOCKS5: a host name must be 1 to 255 bytes, got ${name.length}`);
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

/** The 16 bytes of an IPv6 literal (with `::` and an embedded IPv4 tail). */
function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined];
  const head = left === '' || left === undefined ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const groups =
    right === undefined
      ? head
      : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}

/** Opens a SOCKS5 CONNECT tunnel to `host:port` (IPv4/IPv6 literal or name) through a proxy. */
export async function socks5Connect(
  proxyPort: number,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<Socket> {
  const socket = await openConnection(proxyPort);
  // A reset during the handshake (the host or its plugin dying, as when a test checks that a
  // chain cannot start) must reject this call, never surface as an uncaught 'error'.
  let failure: Error | undefined;
  let fail: ((e: Error) => void) | undefined;
  const onError = (e: Error): void => {
    failure = e;
    fail?.(e);
  };
  socket.on('error', onError);
  const read = (n: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      const finish = (): void => {
        clearTimeout(timer);
        fail = undefined;
        socket.off('readable', tryRead);
        socket.off('end', onEnd);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`SOCKS5: no answer from 127.0.0.1:${proxyPort} within ${timeoutMs} ms`));
      }, timeoutMs);
      const tryRead = (): void => {
        const data = socket.read(n) as Buffer | null;
        if (data !== null) {
          finish();
          resolve(data);
        }
      };
      const onEnd = (): void => {
        finish();
        reject(new Error('SOCKS5: proxy closed the connection'));
      };
      fail = (e) => {
        finish();
        reject(e);
      };
      socket.on('readable', tryRead);
      socket.once('end', onEnd);
      tryRead();
    });
  try {
    socket.write(Buffer.from([5, 1, 0]));
    const hello = await read(2);
    if (hello[0] !== 5 || hello[1] !== 0)
      throw new Error(`SOCKS5: bad greeting reply ${hello.toString('hex')}`);
    socket.write(Buffer.concat([Buffer.from([5, 1, 0]), socksAddress(host), portBytes(port)]));
    // VER REP RSV ATYP, then BND.ADDR (by ATYP) and BND.PORT: read exactly that, no more.
    const head = await read(4);
    if (head[0] !== 5) throw new Error(`SOCKS5: bad CONNECT reply ${head.toString('hex')}`);
    if (head[1] !== 0) throw new Error(`SOCKS5: CONNECT refused with code ${head[1]}`);
    if (head[3] === 1) await read(4 + 2);
    else if (head[3] === 4) await read(16 + 2);
    else if (head[3] === 3) await read((await read(1))[0]! + 2);
    else throw new Error(`SOCKS5: CONNECT reply with unknown address type ${head[3]}`);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  // Hand the socket back in flowing-capable state with no listeners of ours left.
  socket.removeAllListeners('readable');
  socket.off('error', onError);
  return socket;
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
