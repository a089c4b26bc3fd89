import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCommandLine, parseSize } from './args.ts';
import { parseEndpoint, formatEndpoint, type Endpoint } from '../address.ts';
import { parseOptions } from '../options.ts';
import { ErrorCode, PluginError } from '../errors.ts';
import {
  startEchoServer,
  openConnection,
  seededBytes,
  sha256,
  writeChunked,
  readAtLeast,
  type TestServer,
} from '../testing/servers.ts';
import { freePort, stopChild, waitForPort } from '../testing/processes.ts';

export const RUN_USAGE = `Usage: sip003 run <plugin> [options]

Runs a plugin pair the way ss-libev launches plugins (SS_* environment, stdin a pipe): a server
side (with the "server" option) in front of a loopback echo server or --target, and a client side
dialing it. Then moves --bytes random bytes through client -> server -> echo and back and checks
them, unless --serve keeps the pair running for your own traffic.

  <plugin>                 plugin executable (or .js/.mjs/.cjs file run with this node)
  --options <opts>         SS_PLUGIN_OPTIONS for both sides, e.g. "obfs=tls;obfs-host=a.com"
  --client-options <opts>  extra options for the client side
  --server-options <opts>  extra options for the server side
  --server-plugin <path>   run another executable as the server side (e.g. obfs-server)
  --client-plugin <path>   run another executable as the client side (e.g. obfs-local)
  --no-server-flag         do not add "server" to the server side's options (simple-obfs)
  --target <host:port>     where the server side forwards (default: built-in echo server)
  --bytes <size>           bytes to send and check, e.g. 64KiB, 16MiB (default 16MiB)
  --serve                  keep running until Ctrl-C and print where to connect
`;

const RUN_ARGS = {
  options: { type: 'string' },
  'client-options': { type: 'string' },
  'server-options': { type: 'string' },
  'server-plugin': { type: 'string' },
  'client-plugin': { type: 'string' },
  target: { type: 'string' },
  bytes: { type: 'string' },
  serve: { type: 'boolean' },
  'no-server-flag': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function launch(
  path: string,
  env: NodeJS.ProcessEnv,
  label: string,
  io: { stderr(line: string): void },
): ChildProcess {
  const script = /\.(c|m)?js$/.test(path);
  const child = spawn(script ? process.execPath : path, script ? [path] : [], {
    env,
    // ss-libev (libcork) gives its plugin a pipe as stdin and keeps the write end.
    stdio: ['pipe', 'inherit', 'pipe'],
  });
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) io.stderr(`[${label}] ${line}`);
  });
  child.on('error', (error) => io.stderr(`[${label}] cannot start ${path}: ${error.message}`));
  return child;
}

/** Waits until the plugin accepts on its port; a failure is a one-line LISTEN_FAILED. */
async function waitListening(port: number, child: ChildProcess, label: string): Promise<void> {
  try {
    await waitForPort(port, { child });
  } catch (error) {
    throw new PluginError(ErrorCode.LISTEN_FAILED, `${label}: ${(error as Error).message}`);
  }
}

function checkOptions(text: string | undefined, flag: string): string {
  if (text === undefined) return '';
  try {
    parseOptions(text);
  } catch (error) {
    throw new PluginError(ErrorCode.USAGE, `sip003 run: ${flag}: ${(error as Error).message}`);
  }
  return text;
}

function join(...parts: string[]): string {
  return parts.filter((p) => p !== '').join(';');
}

/** `sip003 run`: returns the exit code. */
export async function runCommand(
  argv: readonly string[],
  io: { stdout(line: string): void; stderr(line: string): void },
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, RUN_ARGS, 'sip003 run');
  const text = (name: string): string | undefined => values[name] as string | undefined;
  if (values['help'] === true) {
    io.stdout(RUN_USAGE);
    return 0;
  }
  const plugin = positionals[0];
  if (
    plugin === undefined &&
    !(text('client-plugin') !== undefined && text('server-plugin') !== undefined)
  ) {
    throw new PluginError(
      ErrorCode.USAGE,
      'sip003 run: expected a plugin executable, got nothing (see sip003 run --help)',
    );
  }
  if (positionals.length > 1)
    throw new PluginError(
      ErrorCode.USAGE,
      `sip003 run: expected one plugin, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  const clientPath = resolve(text('client-plugin') ?? plugin ?? '');
  const serverPath = resolve(text('server-plugin') ?? plugin ?? '');
  for (const [flag, path] of [
    ['client plugin', clientPath],
    ['server plugin', serverPath],
  ] as const) {
    const bare = text(flag === 'client plugin' ? 'client-plugin' : 'server-plugin');
    if (!existsSync(path) && (bare === undefined || bare.includes('/'))) {
      throw new PluginError(
        ErrorCode.USAGE,
        `sip003 run: ${flag}: no such file ${JSON.stringify(path)} (did you run pnpm build?)`,
      );
    }
  }
  const common = checkOptions(text('options'), '--options');
  const clientOpts = join(common, checkOptions(text('client-options'), '--client-options'));
  const serverOpts = join(
    values['no-server-flag'] === true ? '' : 'server',
    common,
    checkOptions(text('server-options'), '--server-options'),
  );
  const bytesText = text('bytes') ?? '16MiB';
  const bytes = parseSize(bytesText);
  if (bytes === undefined)
    throw new PluginError(
      ErrorCode.USAGE,
      `sip003 run: --bytes: expected a size such as 65536, 64KiB or 16MiB, got ${JSON.stringify(bytesText)}`,
    );
  let target: Endpoint | undefined;
  const targetText = text('target');
  if (targetText !== undefined) {
    target = parseEndpoint(targetText);
    if (target === undefined)
      throw new PluginError(
        ErrorCode.USAGE,
        `sip003 run: --target: expected host:port, got ${JSON.stringify(targetText)}`,
      );
  }

  let echo: TestServer | undefined;
  const children: ChildProcess[] = [];
  try {
    if (target === undefined) {
      echo = await startEchoServer();
      target = { host: echo.host, port: echo.port };
    }
    const serverPort = await freePort();
    const clientPort = await freePort();
    const base = { ...process.env };
    const server = launch(
      serverPath,
      {
        ...base,
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: String(serverPort),
        SS_LOCAL_HOST: target.host,
        SS_LOCAL_PORT: String(target.port),
        SS_PLUGIN_OPTIONS: serverOpts,
      },
      'server',
      io,
    );
    children.push(server);
    await waitListening(serverPort, server, 'server plugin');
    const client = launch(
      clientPath,
      {
        ...base,
        SS_REMOTE_HOST: '127.0.0.1',
        SS_REMOTE_PORT: String(serverPort),
        SS_LOCAL_HOST: '127.0.0.1',
        SS_LOCAL_PORT: String(clientPort),
        SS_PLUGIN_OPTIONS: clientOpts,
      },
      'client',
      io,
    );
    children.push(client);
    await waitListening(clientPort, client, 'client plugin');
    io.stdout(
      `client plugin listens on 127.0.0.1:${clientPort} -> server plugin on 127.0.0.1:${serverPort} -> ${echo === undefined ? '' : 'echo server '}${formatEndpoint(target)}`,
    );
    io.stdout(
      `  client options: ${JSON.stringify(clientOpts)}, server options: ${JSON.stringify(serverOpts)}`,
    );

    if (values['serve'] === true || echo === undefined) {
      io.stdout('serving; press Ctrl-C to stop');
      await Promise.race([
        once(process, 'SIGINT'),
        once(process, 'SIGTERM'),
        once(client, 'exit'),
        once(server, 'exit'),
      ]);
      return 0;
    }
    const data = seededBytes(bytes, Date.now() & 0xffff);
    const t0 = performance.now();
    const socket = await openConnection(clientPort);
    // Read the echo back before sending FIN: simple-obfs and ss-libev turn a half-close into a
    // full close, and this command must work with them too.
    const received = readAtLeast(socket, bytes, 120_000);
    await writeChunked(socket, data, [65536], false);
    const got = await received;
    // Close the way a client should, so the plugins have nothing left to drain when they stop.
    socket.end();
    await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 5000))]);
    const ms = performance.now() - t0;
    const ok = got.equals(data);
    const mbps = ((bytes * 2) / 1e6 / (ms / 1000)).toFixed(1);
    if (ok) {
      io.stdout(
        `OK: ${bytes} bytes went through the plugin pair to the echo server and back intact (sha256 ${sha256(got).slice(0, 16)}…, ${ms.toFixed(0)} ms, ${mbps} MB/s both ways)`,
      );
    } else {
      io.stderr(
        `FAILED: sent ${bytes} bytes (sha256 ${sha256(data).slice(0, 16)}…), received ${got.length} (sha256 ${sha256(got).slice(0, 16)}…)`,
      );
    }
    return ok ? 0 : 1;
  } finally {
    const codes = await Promise.all(children.map((child) => stopChild(child)));
    if (codes.length > 0) io.stdout(`stopped plugins (exit codes: ${codes.join(', ')})`);
    await echo?.close();
  }
}
