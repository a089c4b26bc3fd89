// The measurements: each test is a list of slices run across the stacks of a round, and a
// finish() that turns the slices into the round's figures.

import { assertAlive, cpuSec, rssKiB } from './stack.mjs';
import { treeRssKiB } from './proc.mjs';

const GiB = 1024 * 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const transferTimeout = (bytes) => Math.round(20000 + (bytes / 5e6) * 1000); // fails below ~5 MB/s

// Each test is cut into slices (transfers of at most cfg.sliceBytes, conn-rate windows of at
// most cfg.sliceSeconds) and the slices are interleaved across the stacks, so that a burst of
// background load hits every stack of the round rather than one. A stack's figure for the round
// adds up all its slices: bytes / seconds, connections / seconds, percentiles over all latencies.

const bytesFor = (run, cfg) => (run.stack.kind === 'ss-libev' ? cfg.ssBytes : cfg.bytes);
const windowFor = (run, cfg) =>
  run.stack.kind === 'ss-libev' ? cfg.ssConnSeconds : cfg.connSeconds;

function throughputTest(id, cmd, streams, kinds) {
  return {
    id,
    kinds,
    slices: (run, cfg) => Math.ceil(bytesFor(run, cfg) / cfg.sliceBytes),
    async slice(lg, run, acc, cfg, n) {
      const bytes = Math.round(bytesFor(run, cfg) / n);
      const timeoutMs = transferTimeout(bytes);
      const c0 = cpuSec(run);
      const r = await lg.call(
        cmd,
        { entry: run.entry, bytes, streams, timeoutMs },
        timeoutMs + 5000,
      );
      const c1 = cpuSec(run);
      assertAlive(run);
      acc.bytes = (acc.bytes ?? 0) + r.bytes;
      acc.seconds = (acc.seconds ?? 0) + r.seconds;
      acc.cpu = (acc.cpu ?? 0) + (c1 - c0);
      acc.slices = (acc.slices ?? 0) + 1;
    },
    finish(run, acc, rec) {
      rec[id] = acc.bytes / acc.seconds / 1e6;
      rec.detail[id] = { bytes: acc.bytes, seconds: acc.seconds, slices: acc.slices, streams };
      if (run.measured.length) {
        rec.detail[id].cpuSeconds = acc.cpu;
        rec.detail.cpuSeconds = (rec.detail.cpuSeconds ?? 0) + acc.cpu;
        rec.detail.cpuBytes = (rec.detail.cpuBytes ?? 0) + acc.bytes;
        rec.cpuPerGiB = rec.detail.cpuSeconds / (rec.detail.cpuBytes / GiB);
      }
    },
  };
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}

export const TESTS = [
  {
    id: 'memory',
    kinds: ['pair'],
    slices: () => 1,
    async slice(lg, run, acc, cfg) {
      await sleep(100);
      acc.before = rssKiB(run);
      acc.idle = Object.fromEntries(run.measured.map((p) => [p.label, treeRssKiB(p.pid)]));
      const timeoutMs = 30000;
      const args = { entry: run.entry, count: cfg.idleConns, timeoutMs };
      const o = await lg.call('idleOpen', args, timeoutMs + 5000);
      await sleep(200);
      acc.after = rssKiB(run);
      const c = await lg.call('idleClose', { timeoutMs: 10000 }, 15000);
      assertAlive(run);
      if (c.droppedBeforeClose) {
        throw new Error(`${c.droppedBeforeClose} idle connections were dropped by the stack`);
      }
      acc.conns = o.opened;
      acc.openSeconds = o.seconds;
    },
    finish(run, acc, rec) {
      rec.idleRss = acc.before / 1024;
      rec.memPerConn = (acc.after - acc.before) / acc.conns;
      rec.detail.idleRssKiB = acc.idle;
      rec.detail.memory = {
        conns: acc.conns,
        rssBeforeKiB: acc.before,
        rssAfterKiB: acc.after,
        openSeconds: acc.openSeconds,
      };
    },
  },
  throughputTest('upload', 'upload', 1, ['direct', 'pair', 'ss-libev']),
  throughputTest('download', 'download', 1, ['direct', 'pair', 'ss-libev']),
  throughputTest('par8', 'download', 8, ['direct', 'pair']),
  {
    id: 'connrate',
    kinds: ['direct', 'pair', 'ss-libev'],
    slices: (run, cfg) => Math.ceil(windowFor(run, cfg) / cfg.sliceSeconds - 1e-9),
    async slice(lg, run, acc, cfg, n) {
      const seconds = windowFor(run, cfg) / n;
      const args = {
        entry: run.entry,
        concurrency: 50,
        seconds,
        maxConns: 500000,
        connTimeoutMs: 5000,
        raw: true,
      };
      const r = await lg.call('connrate', args, seconds * 1000 + 15000);
      assertAlive(run);
      acc.conns = (acc.conns ?? 0) + r.conns;
      acc.failures = (acc.failures ?? 0) + r.failures;
      acc.seconds = (acc.seconds ?? 0) + r.seconds;
      acc.errors = [...(acc.errors ?? []), ...r.errorSamples].slice(0, 5);
      acc.latencies = (acc.latencies ?? []).concat(r.latencies);
      acc.slices = (acc.slices ?? 0) + 1;
      await sleep(50); // let the closes settle before the next stack
    },
    finish(run, acc, rec) {
      const attempts = acc.conns + acc.failures;
      if (acc.failures > Math.max(5, attempts * 0.01)) {
        throw new Error(
          `${acc.failures} of ${attempts} connections failed: ${acc.errors.join('; ')}`,
        );
      }
      const lat = acc.latencies.sort((a, b) => a - b);
      rec.connRate = acc.conns / acc.seconds;
      rec.p50 = percentile(lat, 0.5);
      rec.p99 = percentile(lat, 0.99);
      rec.detail.connrate = {
        conns: acc.conns,
        failures: acc.failures,
        seconds: acc.seconds,
        slices: acc.slices,
        errorSamples: acc.errors,
      };
    },
  },
];

/** Warms a stack's code paths (JIT) before it is measured. */
export async function warm(lg, run, cfg) {
  await lg.call('probe', { entry: run.entry, timeoutMs: 10000 }, 15000);
  const timeoutMs = transferTimeout(cfg.warmBytes);
  await lg.call('upload', { entry: run.entry, bytes: cfg.warmBytes, timeoutMs }, timeoutMs + 5000);
  await lg.call(
    'download',
    { entry: run.entry, bytes: cfg.warmBytes, streams: 1, timeoutMs },
    timeoutMs + 5000,
  );
  const args = {
    entry: run.entry,
    concurrency: 50,
    seconds: cfg.warmConnSeconds,
    maxConns: 20000,
    connTimeoutMs: 5000,
  };
  await lg.call('connrate', args, 15000);
  assertAlive(run);
}
