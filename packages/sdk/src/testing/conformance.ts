import { createServer, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Plugin } from '../plugin.ts';
import type { OptionShape } from '../schema.ts';
import { startPluginPair, type PluginPair } from './pair.ts';
import {
  collect,
  openConnection as connectTo,
  seededBytes,
  sha256,
  startEchoServer,
  startReplyAfterFinServer,
  writeChunked,
  type TestServer,
} from './servers.ts';

export interface ConformanceOptions {
  /** Options for both sides of the pair. */
  options?: Record<string, string | number | boolean>;
  clientOptions?: Record<string, string | number | boolean>;
  serverOptions?: Record<string, string | number | boolean>;
  /** Size of the large transfer each way (default 16 MiB). */
  largeBytes?: number;
  /** Seed for payloads and chunk sizes (default 1). */
  seed?: number;
  /** Per-step limit in ms (default 60 s). */
  timeoutMs?: number;
}

/** What each step measured; a step that fails throws instead. */
export interface ConformanceReport {
  steps: { name: string; ms: number }[];
}

class ConformanceError extends Error {}
ConformanceError.prototype.name = 'ConformanceError';

function expectEqual(step: string, got: Buffer, want: Buffer): void {
  if (got.length !== want.length || !got.equals(want)) {
    let at = 0;
    while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
    throw new ConformanceError(
      `${step}: received ${got.length} bytes (sha256 ${sha256(got).slice(0, 12)}), expected ${want.length} (sha256 ${sha256(want).slice(0, 12)}); first difference at byte ${at}`,
    );
  }
}

async function withDeadline<T>(step: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConformanceError(`${step}: not done within ${ms} ms`)), ms);
  });
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
  const received = collect(socket);
  await writeChunked(socket, data, sizes);
  return received;
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
    uploads.push(collect(socket));
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

/**
 * Runs a plugin pair through the checks every plugin must pass: random chunking, 1-byte chunks,
 * a large transfer each way, half-close in both directions, concurrency, and garbage sent to the
 * server side (which must not disturb other connections or the process). Throws on the first
 * failure with a one-line reason; returns timings otherwise. Independent of any test runner.
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
  }: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const report: ConformanceReport = { steps: [] };
  const pairOptions = { options, clientOptions, serverOptions };
  const step = async (name: string, run: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await withDeadline(name, timeoutMs, run());
    report.steps.push({ name, ms: Math.round(performance.now() - t0) });
  };
  let rng = seed >>> 0 || 1;
  const random = (max: number): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return 1 + ((rng >>> 0) % max);
  };

  const echoServer = await startEchoServer();
  const pair = await startPluginPair(plugin, { target: { port: echoServer.port }, ...pairOptions });
  try {
    await step('small echo', async () => {
      const data = seededBytes(1000, seed);
      expectEqual('small echo', await echo(pair, data, [1000]), data);
    });
    await step('random chunking', async () => {
      const data = seededBytes(256 * 1024, seed + 1);
      expectEqual('random chunking', await echo(pair, data, () => random(40_000)), data);
    });
    await step('1-byte chunks', async () => {
      const data = seededBytes(3000, seed + 2);
      expectEqual('1-byte chunks', await echo(pair, data, [1]), data);
    });
    await step('large transfer', async () => {
      const data = seededBytes(largeBytes, seed + 3);
      expectEqual('large transfer', await echo(pair, data, [65536]), data);
    });
    await step('empty connection', async () => {
      const socket = await pair.connect();
      socket.end();
      const got = await collect(socket);
      if (got.length !== 0)
        throw new ConformanceError(`empty connection: received ${got.length} bytes, expected none`);
    });
    await step('concurrent connections', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const data = seededBytes(50_000 + i, seed + 10 + i);
          return { got: await echo(pair, data, () => random(8000)), data };
        }),
      );
      results.forEach(({ got, data }, i) => expectEqual(`concurrent connection ${i}`, got, data));
    });
    await step('garbage to the server side', async () => {
      const victim = await pair.connect();
      const victimDone = collect(victim);
      victim.write(seededBytes(100, seed));
      const garbage = await connectTo(pair.server.addresses[0]!.port);
      garbage.on('error', () => undefined);
      garbage.end(seededBytes(70_000, seed + 99));
      await Promise.race([once(garbage, 'close'), new Promise((r) => setTimeout(r, 2000))]);
      garbage.destroy();
      const rest = seededBytes(5000, seed + 5);
      victim.end(rest);
      expectEqual(
        'connection next to garbage',
        await victimDone,
        Buffer.concat([seededBytes(100, seed), rest]),
      );
      const after = seededBytes(2000, seed + 6);
      expectEqual('new connection after garbage', await echo(pair, after, [2000]), after);
    });
  } finally {
    await pair.close();
    await echoServer.close();
  }

  await step('half-close: client FIN, reply after it', async () => {
    const reply = (req: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from(`got ${req.length}:`),
        sha256Buf(req),
        seededBytes(1 << 20, seed + 7),
      ]);
    const upstream = await startReplyAfterFinServer(reply);
    const p = await startPluginPair(plugin, { target: { port: upstream.port }, ...pairOptions });
    try {
      const request = seededBytes(300_000, seed + 8);
      const socket = await p.connect();
      const got = collect(socket);
      await writeChunked(socket, request, [16384]);
      expectEqual('reply after client FIN', await got, reply(request));
    } finally {
      await p.close();
      await upstream.close();
    }
  });

  await step('half-close: upstream FIN first, upload continues', async () => {
    const greeting = seededBytes(200_000, seed + 9);
    const upstream = await startCloseFirstServer(greeting);
    const p = await startPluginPair(plugin, { target: { port: upstream.port }, ...pairOptions });
    try {
      const socket = await p.connect();
      const first = Buffer.from('hello');
      socket.write(first);
      expectEqual('download before upstream FIN', await collect(socket), greeting);
      const later = seededBytes(500_000, seed + 11);
      await writeChunked(socket, later, [32768]);
      const upload = upstream.uploads[0];
      if (upload === undefined)
        throw new ConformanceError('upstream FIN first: upstream saw no connection');
      expectEqual('upload after upstream FIN', await upload, Buffer.concat([first, later]));
    } finally {
      await p.close();
      await upstream.close();
    }
  });
  return report;
}

function sha256Buf(data: Buffer): Buffer {
  return Buffer.from(sha256(data), 'hex');
}
