import { once } from 'node:events';
import { parseCommandLine, parseSize } from './args.ts';
import { formatEndpoint } from '../address.ts';
import { parseOptions } from '../options.ts';
import { usageError } from './failures.ts';
import {
  describePair,
  PAIR_ARGS,
  PAIR_USAGE,
  readPairSpec,
  startPair,
  type RunningPair,
} from './pair.ts';
import {
  startEchoServer,
  openConnection,
  seededBytes,
  sha256,
  writeChunked,
  readAtLeast,
  type TestServer,
} from '../testing/servers.ts';
import { freePort } from '../testing/processes.ts';

export const RUN_USAGE = `Usage: sip003 run <plugin> [options]

Runs a plugin pair the way ss-libev launches plugins (SS_* environment, stdin a pipe): a server
side (with the "server" option) in front of a loopback echo server or --target, and a client side
dialing it. Then moves --bytes random bytes through client -> server -> echo and back and checks
them, unless --serve keeps the pair running for your own traffic.

${PAIR_USAGE}
  --bytes <size>           bytes to send and check, e.g. 64KiB, 16MiB (default 16MiB)
  --serve                  keep running until Ctrl-C and print where to connect

Exit 0 when the bytes came back intact (or --serve was stopped by Ctrl-C or SIGTERM), 1 when they
did not or a plugin ended before it listened or while serving, 64 for bad usage or a plugin that
cannot be started as given (no such file, not executable, tsx missing).
`;

const RUN_ARGS = {
  ...PAIR_ARGS,
  bytes: { type: 'string' },
  serve: { type: 'boolean' },
} as const;

/**
 * `obfs, key` for `obfs=tls;key=...`: the names only. This command cannot know which of a
 * plugin's options are secret (its declarations are inside the plugin), so it prints no value;
 * the plugins' own lines show values, with their secrets as `<secret>`.
 */
function optionNames(text: string): string {
  const names = parseOptions(text).map((entry) => entry.key);
  return names.length === 0 ? '(none)' : names.join(', ');
}

/** Moves `bytes` random bytes through the client plugin and back; true if they came back intact. */
async function checkEcho(
  clientPort: number,
  bytes: number,
  io: { stdout(line: string): void; stderr(line: string): void },
): Promise<boolean> {
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
  return ok;
}

/** `sip003 run`: returns the exit code. */
export async function runCommand(
  argv: readonly string[],
  io: { stdout(line: string): void; stderr(line: string): void },
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, RUN_ARGS, 'sip003 run');
  if (values['help'] === true) {
    io.stdout(RUN_USAGE);
    return 0;
  }
  const spec = readPairSpec(values, positionals, 'sip003 run');
  const bytesText = (values['bytes'] as string | undefined) ?? '16MiB';
  const bytes = parseSize(bytesText);
  if (bytes === undefined)
    throw usageError(
      `sip003 run: --bytes: expected a size such as 65536, 64KiB or 16MiB, got ${JSON.stringify(bytesText)}`,
    );

  let echo: TestServer | undefined;
  let pair: RunningPair | undefined;
  try {
    const target = spec.target ?? (echo = await startEchoServer());
    const ports = { server: await freePort(), client: await freePort() };
    pair = await startPair(spec, ports, target, io);
    io.stdout(
      describePair(
        pair,
        ports,
        `${echo === undefined ? '' : 'echo server '}${formatEndpoint(target)}`,
      ),
    );
    io.stdout(
      `  client options: ${optionNames(spec.clientOptions)}; server options: ${optionNames(spec.serverOptions)}`,
    );
    if (values['serve'] === true || echo === undefined) {
      io.stdout('serving; press Ctrl-C to stop');
      const { client, server } = pair;
      const ended = await Promise.race([
        once(process, 'SIGINT').then(() => undefined),
        once(process, 'SIGTERM').then(() => undefined),
        once(client.child, 'exit').then(() => ['client', client] as const),
        once(server.child, 'exit').then(() => ['server', server] as const),
      ]);
      if (ended === undefined) return 0;
      // A plugin that dies while serving is a failure: scripts and CI must see it.
      const [role, plugin] = ended;
      io.stderr(`${role} plugin ended (${plugin.outcome() ?? 'exit'}) while serving`);
      return 1;
    }
    return (await checkEcho(ports.client, bytes, io)) ? 0 : 1;
  } finally {
    if (pair !== undefined) io.stdout(`stopped plugins: ${(await pair.stop()).join(', ')}`);
    await echo?.close();
  }
}
