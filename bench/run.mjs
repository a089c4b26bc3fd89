#!/usr/bin/env node
// Benchmark harness for SIP003 plugins (`pnpm bench`): see bench/README.md, or --help.
// The parts live in lib/: args (command line), loadgen-client (the load generator process),
// stack (starting what is measured), tests (the measurements), report (summaries and tables).

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STACKS, COMPARISONS } from './stacks.mjs';
import { stopProcess, killAllNow } from './lib/proc.mjs';
import { summarize, pairedRatios, checkGoal, formatResults, formatRatios } from './lib/report.mjs';
import { freshMemory } from './lib/fresh-memory.mjs';
import { parseBenchArgs, describeConfig, usage } from './lib/args.mjs';
import { LoadGen } from './lib/loadgen-client.mjs';
import { LOCAL, checkBinaries, startStackRetrying, failure } from './lib/stack.mjs';
import { TESTS, transferTimeout, warm } from './lib/tests.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/** The stacks to measure (default, --all or --only), or an error message. */
function selectStacks(opts) {
  const stacks = opts.all ? STACKS : STACKS.filter((s) => !s.extra);
  if (!opts.only) return { stacks };
  const unknown = opts.only.filter((n) => !STACKS.some((s) => s.name === n));
  if (unknown.length) {
    return {
      error: `unknown stack(s): ${unknown.join(', ')}\nknown: ${STACKS.map((s) => s.name).join(', ')}`,
    };
  }
  return { stacks: STACKS.filter((s) => opts.only.includes(s.name)) };
}

function printMissing(missing) {
  console.error('bench: required binaries are missing:');
  for (const [bin, m] of missing) {
    console.error(`  ${bin}\n    needed by: ${m.stacks.join(', ')}\n    to get it: ${m.install}`);
  }
  console.error('(or leave those stacks out with --only; see --list)');
}

/** Warms the load generator's own code paths (JIT) straight into the target, before any stack. */
async function warmLoadGenerator(lg) {
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

/** Adds the seconds since `t0` to `timing[key]`. */
function spent(timing, key, t0) {
  timing[key] = (timing[key] ?? 0) + (Date.now() - t0) / 1000;
}

/** One test over the running stacks, its slices interleaved; figures go to results[..][round]. */
async function runTest(lg, test, runs, cfg, results, round, timing) {
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
      spent(timing, `${run.stack.name} ${test.id}`, tt);
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

/** Every process a round started, so that a signal can stop them. */
const running = new Set();

/** One round: start every stack (order reversed every other round), warm, measure, stop. */
async function runRound(lg, stacks, round, cfg, bins, results, timing) {
  const order = round % 2 ? [...stacks].reverse() : stacks;
  const rt0 = Date.now();
  const runs = [];
  const targetPorts = [];
  try {
    const ts = Date.now();
    for (let i = 0; i < order.length; i++)
      targetPorts.push((await lg.call('listen', {}, 10000)).port);
    const started = await Promise.allSettled(
      order.map((s, i) => startStackRetrying(s, targetPorts[i], bins)),
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
    spent(timing, 'start', ts);
    for (const run of runs) {
      const tw = Date.now();
      try {
        await warm(lg, run, cfg);
      } catch (e) {
        throw await failure(run, 'warm-up', e);
      }
      spent(timing, `${run.stack.name} warm`, tw);
      results[run.stack.name][round] = { detail: {} };
    }
    for (const test of TESTS) await runTest(lg, test, runs, cfg, results, round, timing);
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

/** Per-stack medians, paired ratios against the baselines, and the goals they meet. */
function compare(stacks, results) {
  const summaries = Object.fromEntries(stacks.map((s) => [s.name, summarize(results[s.name])]));
  const comparisons = COMPARISONS.filter((c) => results[c.stack] && results[c.baseline]).map(
    (c) => ({ ...c, ratios: pairedRatios(results[c.stack], results[c.baseline]) }),
  );
  const goals = comparisons.flatMap((c) =>
    Object.entries(c.goals).map(([metric, g]) => {
      const value = c.ratios[metric]?.median;
      return {
        stack: c.stack,
        baseline: c.baseline,
        metric,
        op: g[0],
        target: g[1],
        value,
        result: checkGoal(value, g),
      };
    }),
  );
  return { summaries, comparisons, goals };
}

function printSummary(stacks, { summaries, comparisons, goals }, fresh, durationS) {
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
}

/** The JSON written to --out. */
function resultsJson({ opts, info, stacks, results, compared, fresh, durationS, timing }) {
  const { summaries, comparisons, goals } = compared;
  return {
    date: new Date().toISOString(),
    durationSeconds: durationS,
    machine: info,
    preset: opts.preset,
    config: opts.config,
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
}

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
    opts = parseBenchArgs(process.argv.slice(2), path.join(HERE, 'results', 'latest.json'));
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
  const { stacks, error } = selectStacks(opts);
  if (error) {
    console.error(`bench: ${error}`);
    return 2;
  }
  const { missing, resolved } = checkBinaries(stacks);
  if (missing.size) {
    printMissing(missing);
    return 1;
  }
  const cfg = opts.config;
  const info = machineInfo();
  console.log(`bench: ${opts.preset}: ${describeConfig(cfg)}`);
  console.log(
    `machine: ${info.cores} x ${info.cpu}, ${info.memGiB} GiB, Linux ${info.kernel}, node ${info.node}`,
  );
  console.log(`stacks: ${stacks.map((s) => s.name).join(', ')}`);

  lg = new LoadGen();
  const results = Object.fromEntries(stacks.map((s) => [s.name, []]));
  const timing = {}; // seconds spent per stack and test, summed over rounds
  await warmLoadGenerator(lg);
  for (let round = 0; round < cfg.rounds; round++)
    await runRound(lg, stacks, round, cfg, resolved, results, timing);
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

  const compared = compare(stacks, results);
  const durationS = (Date.now() - t0) / 1000;
  printSummary(stacks, compared, fresh, durationS);
  const json = resultsJson({ opts, info, stacks, results, compared, fresh, durationS, timing });
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  console.log(`results written to ${path.relative(process.cwd(), opts.out) || opts.out}`);
  return opts.strict && compared.goals.some((g) => g.result === 'FAIL') ? 1 : 0;
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
