// Figures: legitimate echo latency through a plugin pair, percentiles, and bounded polling.

import { openConnection } from '../../packages/sdk/dist/testing/index.js';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `test` every `everyMs` until it is true or `timeoutMs` passed; returns the ms it took or undefined. */
export async function waitFor(test, timeoutMs, everyMs = 20) {
  const start = performance.now();
  for (let i = 0; i < 100_000; i++) {
    if (await test()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) return undefined;
    await sleep(everyMs);
  }
  return undefined;
}

export function percentile(sorted, p) {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * `rounds` round trips of 64 bytes on one connection through `port` (an echo behind it), one at a
 * time: the latency an ordinary user sees. Resolves { median, p99 } in ms; rejects when a round
 * trip takes more than `timeoutMs` or the bytes come back wrong.
 */
export async function echoLatency(port, rounds, timeoutMs = 5000) {
  const socket = await openConnection(port);
  socket.on('error', () => undefined);
  const times = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const message = Buffer.alloc(64, i & 0xff);
      const started = performance.now();
      const back = await new Promise((resolve, reject) => {
        let got = Buffer.alloc(0);
        const timer = setTimeout(
          () => done(new Error(`echo round ${i}: no answer in ${timeoutMs} ms`)),
          timeoutMs,
        );
        const onData = (chunk) => {
          got = Buffer.concat([got, chunk]);
          if (got.length >= 64) done();
        };
        const onClose = () => done(new Error(`echo round ${i}: the connection closed`));
        function done(error) {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('close', onClose);
          if (error) reject(error);
          else resolve(got);
        }
        socket.on('data', onData);
        socket.once('close', onClose);
        socket.write(message);
      });
      times.push(performance.now() - started);
      if (!back.equals(message))
        throw new Error(`echo round ${i}: ${back.length} bytes came back changed`);
    }
  } finally {
    socket.destroy();
  }
  times.sort((a, b) => a - b);
  return { median: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

export const ms = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${x.toFixed(1)} ms`);
export const kib = (x) => `${Math.round(x)} KiB`;

/**
 * RSS growth per connection as a slope: `open(n)` adds n connections and resolves once they have
 * settled; half of `count` are added, RSS of each pid is read (`rss(pid)`), the other half
 * follow, and the growth between the two readings is divided by that second half. The first
 * half pays the heap's one-time growth (young generation, tables), which is no per-connection
 * cost: with 8 connections it passed for 2-3 MiB each, and a plugin that started 9 MiB smaller
 * (the SDK without zod's locales) read as 90 KiB more per connection while it ended 3 MiB smaller.
 * Returns what each `open` resolved, the three readings per pid, and the slope per pid.
 */
export async function rssSlope(pids, rss, count, open) {
  const half = Math.floor(count / 2);
  const read = () => pids.map((pid) => rss(pid));
  const before = read();
  const first = await open(half);
  await sleep(1000);
  const middle = read();
  const second = await open(count - half);
  await sleep(1000);
  const after = read();
  const over = count - half;
  const perConnection = after.map((value, i) => (value - middle[i]) / over);
  return { opened: [first, second], before, middle, after, over, perConnection };
}
