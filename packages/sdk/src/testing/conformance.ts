import { createServer, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Plugin } from '../plugin.ts';
import type { OptionShape } from '../schema.ts';
import type { LogSink } from '../log.ts';
import { describeDifference } from './compare.ts';
import { startPluginPair, type PairOptionValues, type PluginPair } from './pair.ts';
import {
  collect,
  openConnection,
  seededBytes,
  sha256,
  startEchoServer,
  startReplyAfterFinServer,
  writeChunked,
  type TestServer,
} from './servers.ts';

/** The steps of {@link checkCodecRoundTrip}, in the order they run. */
export const conformanceSteps = [
  'small-echo',
  'random-chunking',
  'one-byte-chunks',
  'large-transfer',
  'empty-connection',
  'concurrent-connections',
  'request-response-without-fin',
  'garbage-to-server',
  'reply-after-client-fin',
  'upload-after-upstream-fin',
] as const;
export type ConformanceStep = (typeof conformanceSteps)[number];

export interface ConformanceOptions<S extends OptionShape = OptionShape> {
  /** Options for both sides of the pair. */
  options?: PairOptionValues<S>;
  clientOptions?: PairOptionValues<S>;
  serverOptions?: PairOptionValues<S>;
  /** Size of the large transfer each way (default 16 MiB). */
  largeBytes?: number;
  /** Seed for payloads and chunk sizes (default 1). */
  seed?: number;
  /** Per-step limit in ms (default 60 s). */
  timeoutMs?: number;
  /**
   * How long each reply of the `request-response-without-fin` step may take while both ends are
   * open (default 10 s). A codec that holds bytes until the end of the stream never answers.
   */
  replyTimeoutMs?: number;
  /** Log lines of the plugins, and one line per step (default: dropped). */
  logSink?: LogSink;
  /** Steps not to run (listed in the report as skipped). */
  skip?: readonly ConformanceStep[];
}

/** What each step measured; a step that fails throws instead. */
export interface ConformanceReport {
  steps: { name: ConformanceStep; ms: number }[];
  skipped: ConformanceStep[];
}

class ConformanceError extends Error {}
ConformanceError.prototype.name = 'ConformanceError';

/** Throws "<what>: received ... expected ...; first difference at byte N" unless equal. */
function expectEqual(what: string, got: Buffer, want: Buffer): void {
  const difference = describeDifference(got, want);
  if (difference !== undefined) throw new ConformanceError(`${what}: ${difference}`);
}

/**
 * Marks `p` as handled and returns it: a read started before a write must not become an
 * unhandled rejection when the write fails first and the step throws without awaiting the read.
 * Whoever awaits `p` still sees its rejection.
 */
function observed<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function delay(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { done, cancel: () => clearTimeout(timer) };
}

async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConformanceError(`not done within ${ms} ms`)), ms);
  });
  // When the deadline wins, the step has already failed; its late outcome has nothing to add.
  void observed(work);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Echo through the pair: write `data` in `sizes` chunks, expect the same bytes back. */
async function echo(
  pair: PluginPair<unknown>,
  data: Buffer,
  sizes: readonly number[] | ((i: number) => number),
): Promise<Buffer> {
  const socket = await pair.connect();
  const received = observed(collect(socket));
  await writeChunked(socket, data, sizes);
  return received;
}

/** What one read of {@link replyReader} got, and why it stopped short if it did. */
interface Reply {
  data: Buffer;
  /** Set once the socket ended, failed or closed: what happened. */
  over: string | undefined;
}

/**
 * Reads replies off a socket that stays open: `next(n, ms)` resolves with the next `n` bytes, or
 * with fewer when they did not arrive within `ms` or the socket ended, failed or closed first.
 */
function replyReader(socket: Socket): (n: number, ms: number) => Promise<Reply> {
  const chunks: Buffer[] = [];
  let buffered = 0;
  let over: string | undefined;
  let wake: (() => void) | undefined;
  const stop = (why: string): void => {
    over ??= why;
    wake?.();
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    buffered += chunk.length;
    wake?.();
  });
  socket.once('end', () => stop('the connection ended'));
  socket.on('error', (error) => stop(`the connection failed (${error.message})`));
  socket.once('close', () => stop('the connection closed'));
  return async (n, ms) => {
    const timeout = delay(ms);
    let timedOut = false;
    void timeout.done.then(() => {
      timedOut = true;
      wake?.();
    });
    while (buffered < n && over === undefined && !timedOut)
      await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    timeout.cancel();
    const all = Buffer.concat(chunks.splice(0));
    const data = all.subarray(0, n);
    if (all.length > n) chunks.push(all.subarray(n));
    buffered = all.length - data.length;
    return { data, over };
  };
}

/**
 * Upstream that sends `greeting` and FIN at once, then counts what the client still sends: the
 * server-to-client half-close. Resolves each connection's upload through `uploads`.
 */
async function startCloseFirstServer(
  greeting: Buffer,
): Promise<TestServer & { uploads: Promise<Buffer>[] }> {
  const uploads: Promise<Buffer>[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    uploads.push(observed(collect(socket)));
    socket.end(greeting);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return uploads.length;
    },
    received: [],
    uploads,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function describeBytes(n: number): string {
  return n >= 1 << 20 ? `${+(n / (1 << 20)).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`;
}

/**
 * Runs a plugin pair through the checks every plugin must pass (see {@link conformanceSteps}):
 * random chunking, 1-byte chunks, a large transfer each way, an empty connection, concurrency, a
 * request/response exchange with both ends open (a codec that holds bytes until the end of the
 * stream fails here), garbage sent to the server side (which may reset that connection, and must
 * not disturb others or the process), and half-close in both directions. Throws on the first
 * failure with one line naming the step; returns timings otherwise. Independent of any test runner.
 */
export async function checkCodecRoundTrip<S extends OptionShape>(
  plugin: Plugin<S>,
  {
    options = {},
    clientOptions = {},
    serverOptions = {},
    largeBytes = 16 * 1024 * 1024,
    seed = 1,
    timeoutMs = 60_000,
    replyTimeoutMs = 10_000,
    logSink = () => undefined,
    skip = [],
  }: ConformanceOptions<S> = {},
): Promise<ConformanceReport> {
  for (const name of skip) {
    if (!(conformanceSteps as readonly string[]).includes(name))
      throw new TypeError(
        `checkCodecRoundTrip: skip: expected step names from ${conformanceSteps.join(', ')}, got ${JSON.stringify(name)}`,
      );
  }
  const report: ConformanceReport = { steps: [], skipped: [] };
  const pairOptions = { options, clientOptions, serverOptions, logSink };
  const runs = (name: ConformanceStep): boolean => !skip.includes(name);
  const step = async (
    name: ConformanceStep,
    about: string,
    run: () => Promise<void>,
  ): Promise<void> => {
    if (!runs(name)) {
      report.skipped.push(name);
      return;
    }
    logSink(`checkCodecRoundTrip step "${name}" (${about})`);
    const t0 = performance.now();
    try {
      await withDeadline(timeoutMs, run());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConformanceError(`checkCodecRoundTrip step "${name}" (${about}): ${reason}`, {
        cause: error,
      });
    }
    report.steps.push({ name, ms: Math.round(performance.now() - t0) });
  };
  let rng = seed >>> 0 || 1;
  const random = (max: number): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return 1 + ((rng >>> 0) % max);
  };

  const echoSteps = conformanceSteps.slice(0, conformanceSteps.indexOf('garbage-to-server') + 1);
  if (echoSteps.some(runs)) {
    const echoServer = await startEchoServer();
    try {
      const pair = await startPluginPair(plugin, {
        target: { port: echoServer.port },
        ...pairOptions,
      });
      try {
        await echoChecks(pair);
      } finally {
        await pair.close();
      }
    } finally {
      await echoServer.close();
    }
  } else {
    report.skipped.push(...echoSteps);
  }

  async function echoChecks(pair: PluginPair<unknown>): Promise<void> {
    await step('small-echo', '1000 bytes, one write', async () => {
      const data = seededBytes(1000, seed);
      expectEqual('echo', await echo(pair, data, [1000]), data);
    });
    await step('random-chunking', '256 KiB in writes of 1 to 40000 bytes', async () => {
      const data = seededBytes(256 * 1024, seed + 1);
      expectEqual('echo', await echo(pair, data, () => random(40_000)), data);
    });
    await step('one-byte-chunks', '3000 writes of 1 byte', async () => {
      const data = seededBytes(3000, seed + 2);
      expectEqual('echo', await echo(pair, data, [1]), data);
    });
    await step('large-transfer', `${describeBytes(largeBytes)} up and back`, async () => {
      const data = seededBytes(largeBytes, seed + 3);
      expectEqual('echo', await echo(pair, data, [65536]), data);
    });
    await step('empty-connection', 'connect and FIN at once', async () => {
      const socket = await pair.connect();
      socket.end();
      const got = await collect(socket);
      if (got.length !== 0)
        throw new ConformanceError(`received ${got.length} bytes, expected none`);
    });
    await step('concurrent-connections', '20 connections of about 50 KiB', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const data = seededBytes(50_000 + i, seed + 10 + i);
          return { got: await echo(pair, data, () => random(8000)), data };
        }),
      );
      results.forEach(({ got, data }, i) => expectEqual(`connection ${i}`, got, data));
    });
    const sizes = [1, 100, 1000, 20_000];
    await step(
      'request-response-without-fin',
      `requests of ${sizes.join(', ')} bytes on one open connection, each answered before the next`,
      async () => {
        const socket = await pair.connect();
        const nextReply = replyReader(socket);
        try {
          for (const [i, size] of sizes.entries()) {
            const request = seededBytes(size, seed + 20 + i);
            socket.write(request);
            const { data, over } = await nextReply(size, replyTimeoutMs);
            const got = `${data.length} of the ${size} bytes of reply ${i + 1}`;
            if (data.length < size && over !== undefined)
              throw new ConformanceError(`${got} arrived, then ${over}`);
            if (data.length < size)
              throw new ConformanceError(
                `${got} arrived within ${replyTimeoutMs} ms while both ends were open: the codec held bytes until end of stream (a zlib stream must flush every write: flush: zlib.constants.Z_SYNC_FLUSH)`,
              );
            expectEqual(`reply ${i + 1}`, data, request);
          }
          socket.end();
          const rest = await nextReply(1, replyTimeoutMs);
          if (rest.data.length !== 0)
            throw new ConformanceError(`${rest.data.length} bytes arrived after the last reply`);
          if (rest.over !== 'the connection ended')
            throw new ConformanceError(
              `after the client's FIN, expected a clean end, got ${rest.over ?? `nothing within ${replyTimeoutMs} ms`}`,
            );
        } finally {
          socket.destroy();
        }
      },
    );
    await step(
      'garbage-to-server',
      '70000 random bytes straight into the server plugin next to a working connection',
      async () => {
        const first = seededBytes(100, seed);
        const victim = await pair.connect();
        const victimDone = observed(collect(victim));
        victim.write(first);
        const garbage = await openConnection(pair.server.addresses[0]!.port);
        // A plugin should reset this connection (a ProtocolError does): that is a pass, so the
        // socket's error is expected and only its close is awaited.
        garbage.on('error', () => undefined);
        const closed = new Promise((resolve) => garbage.once('close', resolve));
        garbage.end(seededBytes(70_000, seed + 99));
        const grace = delay(2000);
        await Promise.race([closed, grace.done]);
        grace.cancel();
        garbage.destroy();
        const rest = seededBytes(5000, seed + 5);
        victim.end(rest);
        expectEqual('connection next to garbage', await victimDone, Buffer.concat([first, rest]));
        const after = seededBytes(2000, seed + 6);
        expectEqual('new connection after garbage', await echo(pair, after, [2000]), after);
      },
    );
  }

  await step('reply-after-client-fin', '300 KiB request, FIN, then a 1 MiB reply', async () => {
    const reply = (req: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from(`got ${req.length}:`),
        Buffer.from(sha256(req), 'hex'),
        seededBytes(1 << 20, seed + 7),
      ]);
    const upstream = await startReplyAfterFinServer(reply);
    try {
      const p = await startPluginPair(plugin, { target: { port: upstream.port }, ...pairOptions });
      try {
        const request = seededBytes(300_000, seed + 8);
        const socket = await p.connect();
        const got = observed(collect(socket));
        await writeChunked(socket, request, [16384]);
        expectEqual('reply', await got, reply(request));
      } finally {
        await p.close();
      }
    } finally {
      await upstream.close();
    }
  });

  await step(
    'upload-after-upstream-fin',
    'upstream sends 200 KiB and FIN first; 500 KiB upload follows',
    async () => {
      const greeting = seededBytes(200_000, seed + 9);
      const upstream = await startCloseFirstServer(greeting);
      try {
        const p = await startPluginPair(plugin, {
          target: { port: upstream.port },
          ...pairOptions,
        });
        try {
          const socket = await p.connect();
          const first = Buffer.from('hello');
          socket.write(first);
          expectEqual('download before upstream FIN', await collect(socket), greeting);
          const later = seededBytes(500_000, seed + 11);
          await writeChunked(socket, later, [32768]);
          const upload = upstream.uploads[0];
          if (upload === undefined) throw new ConformanceError('upstream saw no connection');
          expectEqual('upload after upstream FIN', await upload, Buffer.concat([first, later]));
        } finally {
          await p.close();
        }
      } finally {
        await upstream.close();
      }
    },
  );
  return report;
}
