// Memory as a user sees it: each pair stack is started fresh (its own processes, nothing measured
// before), gets one warm-up connection, then holds 1000 idle connections, then 10000. Reported:
// KiB per connection over the first 1000 (from the RSS after the warm-up connection) and the total
// RSS of the plugin client + server at 1000 and at 10000, each as a ratio to simple-obfs in the
// same round. The main memory test (run.mjs) measures processes whose heap already grew in the
// throughput tests, which reads lower per connection than a freshly started plugin.
import { readFileSync } from 'node:fs';
import { treeRssKiB } from './proc.mjs';
import { median, table } from './report.mjs';

const FIRST = 1000;
const MOST = 10000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * How many idle connections this machine lets a pair hold: each plugin process holds two sockets
 * per connection (accepted + dialed) and so does the load generator (client + target side), all
 * under the RLIMIT_NOFILE the bench passes on. Returns at most MOST.
 */
export function idleCeiling() {
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const limit = m ? Number(m[1]) : Infinity;
  return Math.min(MOST, Math.floor((limit - 200) / 2 / 100) * 100);
}

/**
 * Our plugins reset connections beyond `max-connections` (default 8192); a user who wants 10000
 * open raises it, and so does this test. simple-obfs has no such option (and no limit).
 */
function withRoomFor(stack, most) {
  if (stack.group !== 'ours') return stack;
  const raise = (side) => ({
    ...side,
    options: [side.options, `max-connections=${most + 100}`].filter(Boolean).join(';'),
  });
  return { ...stack, client: raise(stack.client), server: raise(stack.server) };
}

const rssKiB = (run) => run.measured.reduce((a, p) => a + treeRssKiB(p.pid), 0);

/** One fresh start of one stack: the figures of one round. */
async function measure(lg, run, most) {
  await lg.call('probe', { entry: run.entry, timeoutMs: 10000 }, 15000);
  await sleep(300);
  const start = rssKiB(run);
  const open = async (count) => {
    const timeoutMs = 30000 + count * 20;
    const o = await lg.call('idleOpen', { entry: run.entry, count, timeoutMs }, timeoutMs + 5000);
    if (o.dropped) throw new Error(`${o.dropped} idle connections were dropped by the stack`);
    await sleep(500);
    return rssKiB(run);
  };
  try {
    const at1000 = await open(FIRST);
    const atMost = await open(most - FIRST);
    return {
      startKiB: start,
      perConnKiB: (at1000 - start) / FIRST,
      rss1000MiB: at1000 / 1024,
      rssMostMiB: atMost / 1024,
    };
  } finally {
    await lg.call('idleClose', { timeoutMs: 20000 }, 25000);
  }
}

/**
 * Runs the fresh-start memory test on our stacks that have a simple-obfs baseline, and on those
 * baselines, for `rounds` rounds (stack order
 * reversed every other round). `start(stack, targetPort)` and `stop(run)` are the bench's own.
 * Returns { idle, rounds: {stack: [...]}, medians, ratios, text }.
 */
export async function freshMemory({ lg, stacks, comparisons, rounds, start, stop, log }) {
  // Our stacks compared with simple-obfs, and simple-obfs: the figures a user weighs.
  const versus = comparisons.filter((c) => c.baseline.startsWith('simple-obfs'));
  const wanted = new Set(versus.flatMap((c) => [c.stack, c.baseline]));
  const pairs = stacks.filter((s) => s.kind === 'pair' && wanted.has(s.name));
  const most = idleCeiling();
  const perStack = Object.fromEntries(pairs.map((s) => [s.name, []]));
  if (pairs.length === 0) return undefined;
  if (most < MOST) {
    log(
      `fresh memory: RLIMIT_NOFILE allows ${most} idle connections per pair here, not ${MOST} (raise ulimit -n to ${2 * MOST + 200})`,
    );
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...pairs].reverse() : pairs;
    // One stack at a time: 10000 connections each is what the machine can spare.
    for (const stack of order) {
      const { port } = await lg.call('listen', {}, 10000);
      const run = await start(withRoomFor(stack, most), port);
      try {
        perStack[stack.name][round] = await measure(lg, run, most);
      } catch (e) {
        throw new Error(`${stack.name}, fresh memory test: ${e.message}`, { cause: e });
      } finally {
        await stop(run);
        await lg.call('unlisten', { port }, 10000).catch(() => {});
      }
    }
    log(
      `fresh memory round ${round + 1}/${rounds}: ${order
        .map((s) => `${s.name} ${perStack[s.name][round].perConnKiB.toFixed(1)} KiB/conn`)
        .join(', ')}`,
    );
  }
  const keys = ['perConnKiB', 'rss1000MiB', 'rssMostMiB'];
  const medians = Object.fromEntries(
    pairs.map((s) => [
      s.name,
      Object.fromEntries(keys.map((k) => [k, median(perStack[s.name].map((r) => r[k]))])),
    ]),
  );
  const ratios = versus
    .filter((c) => perStack[c.stack] && perStack[c.baseline])
    .map((c) => ({
      stack: c.stack,
      baseline: c.baseline,
      ...Object.fromEntries(
        keys.map((k) => [
          k,
          median(perStack[c.stack].map((r, i) => r[k] / perStack[c.baseline][i][k])),
        ]),
      ),
    }));
  const heads = ['KiB/conn', 'MiB @1000', `MiB @${most}`];
  const text = [
    `Fresh start: one warm-up connection, then ${FIRST} and ${most} idle (median of ${rounds} rounds)`,
    '',
    table(
      ['stack', ...heads],
      pairs.map((s) => [
        s.name,
        ...keys.map((k, i) => medians[s.name][k].toFixed(i === 0 ? 1 : 0)),
      ]),
    ),
    '',
    table(
      ['ratio (median of per-round)', ...heads],
      ratios.map((r) => [`${r.stack} / ${r.baseline}`, ...keys.map((k) => `${r[k].toFixed(2)}x`)]),
    ),
  ].join('\n');
  return { idle: { first: FIRST, most }, rounds: perStack, medians, ratios, text };
}
