#!/usr/bin/env node
// Benchmark harness for SIP003 plugins (`pnpm bench`): see bench/README.md, or --help.

import { fork, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STACKS, COMPARISONS, SS_LIBEV } from './stacks.mjs';
import {
  resolveBinary,
  startProcess,
  stopProcess,
  killAllNow,
  freePort,
  waitListening,
  treeRssKiB,
  treeCpuSeconds,
} from './lib/proc.mjs';
import { summarize, pairedRatios, checkGoal, formatResults, formatRatios } from './lib/report.mjs';
import { freshMemory } from './lib/fresh-memory.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Arguments

// ss-libev stacks get shorter transfers and windows: they are only compared with ss-libev-none
// (goal 0.85x), and the full run has to stay near 8 minutes on 2 cores.
const PRESETS = {
  full: {
    rounds: 7,
    bytes: 512 * MiB,
    connSeconds: 4,
    idleConns: 1000,
    ssBytes: 96 * MiB,
    ssConnSeconds: 1.5,
    warmBytes: 8 * MiB,
    warmConnSeconds: 0.2,
    sliceBytes: 64 * MiB,
    sliceSeconds: 1,
  },
  quick: {
    rounds: 3,
    bytes: 64 * MiB,
    connSeconds: 0.8,
    idleConns: 200,
    ssBytes: 32 * MiB,
    ssConnSeconds: 0.4,
    warmBytes: 4 * MiB,
    warmConnSeconds: 0.1,
    sliceBytes: 64 * MiB,
    sliceSeconds: 1,
  },
};

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib)?$/i.exec(String(s).trim());
  if (!m) throw new Error(`bad size "${s}" (try 64MiB)`);
  const mult = { b: 1, k: 1024, kib: 1024, m: MiB, mib: MiB, g: GiB, gib: GiB }[
    (m[2] ?? 'b').toLowerCase()
  ];
  return Math.round(Number(m[1]) * mult);
}

function describe(c) {
  return (
    `${c.rounds} rounds, ${c.bytes / MiB} MiB transfers, ${c.connSeconds} s conn-rate windows, ` +
    `${c.idleConns} idle conns; ss-libev stacks ${c.ssBytes / MiB} MiB, ${c.ssConnSeconds} s`
  );
}

function usage() {
  return `usage: pnpm bench [options]    (node bench/run.mjs [options])
  (default)           full run: ${describe(PRESETS.full)} (~8 min)
  --quick             ${describe(PRESETS.quick)} (< 1 min)
  --only a,b,...      measure only these stacks (see --list)
  --all               every stack in the table, also those marked extra
  --rounds N          rounds (stack order reversed every other round)
  --bytes SIZE        bytes per stack and round for upload, download and 8-stream download
  --conn-seconds S    connection-rate window per stack and round
  --idle-conns N      idle connections opened for the memory-per-connection test
  --ss-bytes SIZE     the same as --bytes, for ss-libev stacks
  --ss-conn-seconds S the same as --conn-seconds, for ss-libev stacks
  --out FILE          JSON output (default bench/results/latest.json)
  --strict            exit 1 when a goal fails
  --list              list stacks and exit`;
}

function parseArgs(argv) {
  const o = { preset: 'full', only: undefined, out: path.join(HERE, 'results', 'latest.json') };
  const over = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const flag = a.split('=')[0];
    if (a === '--') continue;
    else if (flag === '--quick') o.preset = 'quick';
    else if (flag === '--full') o.preset = 'full';
    else if (flag === '--only')
      o.only = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (flag === '--rounds') over.rounds = Number(val());
    else if (flag === '--bytes') over.bytes = parseSize(val());
    else if (flag === '--conn-seconds') over.connSeconds = Number(val());
    else if (flag === '--idle-conns') over.idleConns = Number(val());
    else if (flag === '--ss-bytes') over.ssBytes = parseSize(val());
    else if (flag === '--ss-conn-seconds') over.ssConnSeconds = Number(val());
    else if (flag === '--all') o.all = true;
    else if (flag === '--out') o.out = path.resolve(val());
    else if (flag === '--strict') o.strict = true;
    else if (flag === '--list') o.list = true;
    else if (flag === '--help' || flag === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  o.config = { ...PRESETS[o.preset], ...over };
  const c = o.config;
  if (!(c.rounds >= 1 && c.rounds <= 100)) throw new Error('--rounds must be 1..100');
  if (!(c.bytes >= MiB && c.ssBytes >= MiB)) throw new Error('sizes must be at least 1MiB');
  for (const k of ['connSeconds', 'ssConnSeconds']) {
    if (!(c[k] > 0 && c[k] <= 120)) throw new Error('conn-rate windows must be 0..120 s');
  }
  if (!(c.idleConns >= 10 && c.idleConns <= 5000)) throw new Error('--idle-conns must be 10..5000');
  c.warmBytes = Math.min(c.warmBytes, c.bytes);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Load generator (separate process, IPC)

class LoadGen {
  constructor() {
    this.proc = fork(path.join(HERE, 'lib', 'loadgen.mjs'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pending = new Map();
    this.nextId = 1;
    this.exited = false;
    this.proc.on('message', (m) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`load generator exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
  }
  call(cmd, args, timeoutMs) {
    if (this.exited) return Promise.reject(new Error('load generator is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load generator: ${cmd} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.send({ id, cmd, args });
    });
  }
  async stop() {
    if (this.exited) return;
    const pid = this.proc.pid;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.disconnect();
    await Promise.race([gone, sleep(2000)]);
    if (!this.exited) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Stacks

function requiredBinaries(stack) {
  const out = [];
  if (stack.kind === 'ss-libev') out.push(SS_LIBEV.local, SS_LIBEV.server);
  if (stack.client) out.push(stack.client, stack.server);
  return out;
}

function checkBinaries(stacks) {
  const missing = new Map();
  const resolved = new Map();
  for (const s of stacks) {
    for (const b of requiredBinaries(s)) {
      const p = resolveBinary(b.bin, ROOT);
      if (p) resolved.set(b.bin, p);
      else {
        const m = missing.get(b.bin) ?? { install: b.install, stacks: [] };
        if (!m.stacks.includes(s.name)) m.stacks.push(s.name);
        missing.set(b.bin, m);
      }
    }
  }
  return { missing, resolved };
}

const LOCAL = '127.0.0.1';

/**
 * ss-libev picks the port between host and plugin itself (bind to port 0, close, pass it on), and
 * under the bench's connection churn another socket can take it first: the plugin exits with
 * EADDRINUSE and the host with it (seen in round 3 of a full run). That race is the host's, not
 * the stack's, so such a start is retried with fresh ports, 3 starts in all; nothing else is.
 */
async function startStackRetrying(stack, targetPort, bins) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStack(stack, targetPort, bins);
    } catch (e) {
      if (stack.kind !== 'ss-libev' || attempt >= 3 || !String(e.message).includes('EADDRINUSE'))
        throw e;
      console.log(
        `${stack.name}: the plugin port ss-libev picked was taken (EADDRINUSE); starting again (${attempt + 1}/3)`,
      );
    }
  }
}

async function startStack(stack, targetPort, bins) {
  const procs = [];
  const measured = [];
  let entry;
  const ports = [];
  try {
    if (stack.kind === 'direct') {
      entry = { host: LOCAL, port: targetPort };
    } else if (stack.kind === 'pair') {
      const cPort = await freePort();
      const sPort = await freePort();
      const server = startProcess(`${stack.name} plugin server`, bins.get(stack.server.bin), [], {
        SS_REMOTE_HOST: LOCAL,
        SS_REMOTE_PORT: String(sPort),
        SS_LOCAL_HOST: LOCAL,
        SS_LOCAL_PORT: String(targetPort),
        SS_PLUGIN_OPTIONS: stack.server.options,
      });
      procs.push(server);
      const client = startProcess(`${stack.name} plugin client`, bins.get(stack.client.bin), [], {
        SS_LOCAL_HOST: LOCAL,
        SS_LOCAL_PORT: String(cPort),
        SS_REMOTE_HOST: LOCAL,
        SS_REMOTE_PORT: String(sPort),
        SS_PLUGIN_OPTIONS: stack.client.options,
      });
      procs.push(client);
      measured.push(client, server);
      ports.push(sPort, cPort);
      entry = { host: LOCAL, port: cPort };
    } else if (stack.kind === 'ss-libev') {
      const sPort = await freePort();
      const lPort = await freePort();
      const common = ['-s', LOCAL, '-p', String(sPort), '-k', SS_LIBEV.password];
      common.push('-m', SS_LIBEV.method, '--no-delay', '-t', '600', '-n', '16384');
      const plug = (side) =>
        stack[side]
          ? ['--plugin', bins.get(stack[side].bin), '--plugin-opts', stack[side].options]
          : [];
      const server = startProcess(
        `${stack.name} ss-server`,
        bins.get(SS_LIBEV.server.bin),
        [...common, ...plug('server')],
        {},
      );
      procs.push(server);
      const local = startProcess(
        `${stack.name} ss-local`,
        bins.get(SS_LIBEV.local.bin),
        [...common, '-b', LOCAL, '-l', String(lPort), ...plug('client')],
        {},
      );
      procs.push(local);
      ports.push(sPort, lPort);
      entry = { host: LOCAL, port: lPort, socks: { host: LOCAL, port: targetPort } };
    } else {
      throw new Error(`unknown stack kind ${stack.kind}`);
    }
    if (ports.length) await waitListening(ports, procs, 15000);
    return { stack, procs, measured, entry, targetPort };
  } catch (e) {
    await Promise.all(procs.map((p) => stopProcess(p)));
    throw e;
  }
}

function assertAlive(run) {
  for (const p of run.procs) {
    if (p.exitInfo) {
      throw new Error(
        `${p.label} (pid ${p.pid}) exited (${JSON.stringify(p.exitInfo)}); last output:\n${p.output}`,
      );
    }
  }
}

/** An error from a test, with the exit status and output of any stack process that died. */
async function failure(run, what, e) {
  await sleep(200); // a dying plugin's exit can trail the socket error it caused
  const dead = run.procs.filter((p) => p.exitInfo);
  const why = dead.map(
    (p) =>
      `\n${p.label} (pid ${p.pid}) exited ${JSON.stringify(p.exitInfo)}; last output:\n${p.output}`,
  );
  return new Error(`${run.stack.name}, ${what}: ${e.message}${why.join('')}`);
}

const rssKiB = (run) => run.measured.reduce((a, p) => a + treeRssKiB(p.pid), 0);
const cpuSec = (run) => run.measured.reduce((a, p) => a + treeCpuSeconds(p.pid), 0);

// ---------------------------------------------------------------------------------------------
// Tests

const transferTimeout = (bytes) => Math.round(20000 + (bytes / 5e6) * 1000); // fails below ~5 MB/s

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

const TESTS = [
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

async function warm(lg, run, cfg) {
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

// ---------------------------------------------------------------------------------------------
// Main

function machineInfo() {
  const pkgVersion = (name) => {
    try {
      return execFileSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / GiB),
    kernel: os.release(),
    node: process.version,
    simpleObfs: pkgVersion('simple-obfs'),
    shadowsocksLibev: pkgVersion('shadowsocks-libev'),
  };
}

const running = new Set();
let lg;
let stopping = false;

async function stopAll() {
  await Promise.all([...running].map((run) => Promise.all(run.procs.map((p) => stopProcess(p)))));
  running.clear();
  if (lg) await lg.stop();
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) {
      killAllNow();
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${sig}: stopping every process started by the bench...\n`);
    Promise.race([stopAll(), sleep(4000)]).finally(() => {
      killAllNow();
      process.exit(130);
    });
  });
}

async function main() {
  const t0 = Date.now();
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${e.message}`);
    return 2;
  }
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  if (opts.list) {
    for (const s of STACKS) {
      console.log(
        `${s.name.padEnd(26)} ${s.kind.padEnd(9)} ${s.extra ? 'extra  ' : 'default'} ${s.about}`,
      );
    }
    return 0;
  }
  let stacks = opts.all ? STACKS : STACKS.filter((s) => !s.extra);
  if (opts.only) {
    const unknown = opts.only.filter((n) => !STACKS.some((s) => s.name === n));
    if (unknown.length) {
      console.error(
        `bench: unknown stack(s): ${unknown.join(', ')}\nknown: ${STACKS.map((s) => s.name).join(', ')}`,
      );
      return 2;
    }
    stacks = STACKS.filter((s) => opts.only.includes(s.name));
  }
  const { missing, resolved } = checkBinaries(stacks);
  if (missing.size) {
    console.error('bench: required binaries are missing:');
    for (const [bin, m] of missing) {
      console.error(`  ${bin}\n    needed by: ${m.stacks.join(', ')}\n    to get it: ${m.install}`);
    }
    console.error('(or leave those stacks out with --only; see --list)');
    return 1;
  }
  const cfg = opts.config;
  const info = machineInfo();
  console.log(`bench: ${opts.preset}: ${describe(cfg)}`);
  console.log(
    `machine: ${info.cores} x ${info.cpu}, ${info.memGiB} GiB, Linux ${info.kernel}, node ${info.node}`,
  );
  console.log(`stacks: ${stacks.map((s) => s.name).join(', ')}`);

  lg = new LoadGen();

  const results = Object.fromEntries(stacks.map((s) => [s.name, []]));
  const timing = {}; // seconds spent per stack and test, summed over rounds
  // Warm the load generator's own code paths (JIT) straight into the target, before any stack.
  {
    const { port } = await lg.call('listen', {}, 10000);
    const entry = { host: LOCAL, port };
    const timeoutMs = transferTimeout(64 * MiB);
    for (let i = 0; i < 3; i++) {
      await lg.call('upload', { entry, bytes: 64 * MiB, timeoutMs }, timeoutMs + 5000);
      await lg.call(
        'download',
        { entry, bytes: 64 * MiB, streams: i === 2 ? 8 : 1, timeoutMs },
        timeoutMs + 5000,
      );
    }
    await lg.call(
      'connrate',
      { entry, concurrency: 50, seconds: 0.3, maxConns: 20000, connTimeoutMs: 5000 },
      15000,
    );
    await lg.call('unlisten', { port }, 10000);
  }

  for (let round = 0; round < cfg.rounds; round++) {
    const order = round % 2 ? [...stacks].reverse() : stacks;
    const rt0 = Date.now();
    const runs = [];
    const targetPorts = [];
    try {
      const ts = Date.now();
      for (let i = 0; i < order.length; i++)
        targetPorts.push((await lg.call('listen', {}, 10000)).port);
      const started = await Promise.allSettled(
        order.map((s, i) => startStackRetrying(s, targetPorts[i], resolved)),
      );
      for (const r of started) {
        if (r.status === 'fulfilled') {
          running.add(r.value);
          runs.push(r.value);
        }
      }
      const failed = started.findIndex((r) => r.status === 'rejected');
      if (failed >= 0)
        throw new Error(`starting ${order[failed].name}: ${started[failed].reason.message}`);
      timing.start = (timing.start ?? 0) + (Date.now() - ts) / 1000;
      for (const run of runs) {
        const tw = Date.now();
        try {
          await warm(lg, run, cfg);
          timing[`${run.stack.name} warm`] =
            (timing[`${run.stack.name} warm`] ?? 0) + (Date.now() - tw) / 1000;
        } catch (e) {
          throw await failure(run, 'warm-up', e);
        }
        results[run.stack.name][round] = { detail: {} };
      }
      for (const test of TESTS) {
        const active = runs.filter((run) => test.kinds.includes(run.stack.kind));
        const acc = new Map(active.map((run) => [run, {}]));
        const slices = new Map(active.map((run) => [run, test.slices(run, cfg)]));
        const most = Math.max(0, ...slices.values());
        for (let i = 0; i < most; i++) {
          for (const run of active) {
            if (i >= slices.get(run)) continue;
            const tt = Date.now();
            try {
              await test.slice(lg, run, acc.get(run), cfg, slices.get(run));
            } catch (e) {
              throw await failure(run, `${test.id} test`, e);
            }
            const key = `${run.stack.name} ${test.id}`;
            timing[key] = (timing[key] ?? 0) + (Date.now() - tt) / 1000;
          }
        }
        for (const run of active) {
          try {
            test.finish(run, acc.get(run), results[run.stack.name][round]);
          } catch (e) {
            throw await failure(run, `${test.id} test`, e);
          }
        }
      }
    } finally {
      await Promise.all(runs.map((run) => Promise.all(run.procs.map((p) => stopProcess(p)))));
      for (const run of runs) running.delete(run);
      for (const port of targetPorts) await lg.call('unlisten', { port }, 10000).catch(() => {});
    }
    const brief = order
      .map((s) => {
        const r = results[s.name][round];
        return `${s.name} ${Math.round(r.upload)}/${Math.round(r.download)} MB/s ${Math.round(r.connRate)} c/s`;
      })
      .join(', ');
    console.log(
      `round ${round + 1}/${cfg.rounds} (${((Date.now() - rt0) / 1000).toFixed(1)} s): ${brief}`,
    );
  }
  const fresh = await freshMemory({
    lg,
    stacks,
    comparisons: COMPARISONS,
    rounds: Math.ceil(cfg.rounds / 3),
    start: (s, port) => startStackRetrying(s, port, resolved).then((r) => (running.add(r), r)),
    stop: (r) => Promise.all(r.procs.map((p) => stopProcess(p))).then(() => running.delete(r)),
    log: console.log,
  });
  await lg.stop();

  // Summaries and ratios
  const summaries = Object.fromEntries(stacks.map((s) => [s.name, summarize(results[s.name])]));
  const comparisons = COMPARISONS.filter((c) => results[c.stack] && results[c.baseline]).map(
    (c) => ({
      ...c,
      ratios: pairedRatios(results[c.stack], results[c.baseline]),
    }),
  );
  const goals = [];
  for (const c of comparisons) {
    for (const [metric, g] of Object.entries(c.goals)) {
      const value = c.ratios[metric]?.median;
      goals.push({
        stack: c.stack,
        baseline: c.baseline,
        metric,
        op: g[0],
        target: g[1],
        value,
        result: checkGoal(value, g),
      });
    }
  }
  const durationS = (Date.now() - t0) / 1000;

  console.log(
    '\nMedians across rounds (MB = 10^6 bytes; RSS and CPU: plugin client + server processes)\n',
  );
  console.log(formatResults(stacks, summaries));
  const ratioText = formatRatios(comparisons);
  if (ratioText)
    console.log(
      `\nPaired ratios: stack / baseline per round, median of the ratios\n\n${ratioText}`,
    );
  if (goals.length) {
    const failed = goals.filter((g) => g.result !== 'PASS');
    console.log(`\nGoals passed: ${goals.length - failed.length}/${goals.length}`);
  } else {
    console.log(
      '\nGoals: none measured (they compare our plugins with simple-obfs and ss-libev-none)',
    );
  }
  if (fresh) console.log(`\n${fresh.text}`);
  console.log(`\nduration ${durationS.toFixed(1)} s`);

  const json = {
    date: new Date().toISOString(),
    durationSeconds: durationS,
    machine: info,
    preset: opts.preset,
    config: cfg,
    units: {
      upload: 'MB/s (10^6 bytes)',
      download: 'MB/s',
      par8: 'MB/s total over 8 parallel download streams',
      connRate: 'connections/s (connect, 64-byte echo, close; 50 concurrent)',
      p50: 'ms, connect to echo received',
      p99: 'ms',
      idleRss: 'MiB, plugin client + server',
      memPerConn: 'KiB per open idle connection, plugin client + server',
      cpuPerGiB: 'CPU seconds (user + system, plugin client + server) per GiB moved',
    },
    stacks: Object.fromEntries(
      stacks.map((s) => [
        s.name,
        {
          kind: s.kind,
          about: s.about,
          client: s.client,
          server: s.server,
          median: summaries[s.name],
          rounds: results[s.name],
        },
      ]),
    ),
    comparisons: comparisons.map((c) => ({
      stack: c.stack,
      baseline: c.baseline,
      ratios: c.ratios,
    })),
    goals,
    timing,
    freshMemory: fresh,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  console.log(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}`);
  return opts.strict && goals.some((g) => g.result === 'FAIL') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    if (stopping) return; // SIGINT/SIGTERM: the signal handler cleans up and exits
    console.error(`\nbench FAILED: ${e.message}`);
    await Promise.race([stopAll(), sleep(5000)]);
    killAllNow();
    process.exit(1);
  },
);
