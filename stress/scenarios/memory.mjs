// Issue 9 defects 1 and 2: memory per hostile connection and the latency of everyone else.
// Tiny TLS records after a valid handshake, and a first packet sent one byte per read. Done when:
// <= 256 KiB RSS per attacker connection, legitimate p99 under one attacker <= 2x unattacked.

import path from 'node:path';
import { startProcess, stopProcess } from '../../bench/lib/proc.mjs';
import { startEchoServer } from '../../packages/sdk/dist/testing/index.js';
import { ROOT, fdCount, rssKiB, startPair } from '../lib/plugins.mjs';
import { echoLatency, kib, ms, rssSlope, sleep, waitFor } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

const ATTACKER = path.join(ROOT, 'stress/attacker.mjs');
const RSS_LIMIT_KIB = 256;

/**
 * The attack rate of the latency phase: the issue measured one attacker at ~8 MiB/s. Unbounded,
 * one attacker process alone takes a whole core of this 2-core machine, and the latency then
 * measures the scheduler, not the plugin.
 */
const LATENCY_ATTACK_RATE = 8 * 1024 * 1024;

function attacker(mode, port, { count, bytes, read, rate = 0 }) {
  const args = [
    ATTACKER,
    '--mode',
    mode,
    '--port',
    String(port),
    '--count',
    String(count),
    '--bytes',
    String(bytes),
  ];
  if (read) args.push('--read');
  if (rate > 0) args.push('--rate', String(rate));
  return startProcess(`attacker ${mode}`, process.execPath, args, {});
}

/** Alternating unattacked and attacked rounds: the machine is noisy, one p99 of each proves little. */
const LATENCY_ROUNDS = 3;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Legitimate echo latency through a pair of `kind`, unattacked and under one `mode` attacker, in
 * alternating rounds (A/B, as the bench does); compares the medians of the rounds' p99.
 */
async function latencyPhase(result, kind, mode, upstream, rounds) {
  const pair = await startPair(kind, upstream, 'handshake-timeout=60');
  try {
    await echoLatency(pair.port, 50); // warm up the JIT of both plugins
    const calm = [];
    const attacked = [];
    for (let round = 0; round < LATENCY_ROUNDS; round++) {
      calm.push(await echoLatency(pair.port, rounds));
      const one = attacker(mode, pair.server.port, {
        count: 1,
        bytes: 0,
        read: true,
        rate: LATENCY_ATTACK_RATE,
      });
      try {
        await sleep(500);
        attacked.push(await echoLatency(pair.port, rounds));
      } finally {
        await stopProcess(one);
      }
    }
    const calmP99 = median(calm.map((r) => r.p99));
    const attackedP99 = median(attacked.map((r) => r.p99));
    result.figure(
      `legitimate echo, ${LATENCY_ROUNDS} alternating rounds: unattacked median ${ms(median(calm.map((r) => r.median)))} p99 ${ms(calmP99)}; under one attacker (${LATENCY_ATTACK_RATE / 1024 / 1024} MiB/s) median ${ms(median(attacked.map((r) => r.median)))} p99 ${ms(attackedP99)}`,
    );
    result.check(
      'p99 under one attacker <= 2x unattacked',
      attackedP99 <= 2 * calmP99,
      ms(attackedP99),
      `<= ${ms(2 * calmP99)}`,
    );
  } finally {
    await pair.stop();
  }
}

/** Starts `count` attackers and waits until they have sent all and settled. */
async function attackAndSettle(mode, port, { count, bytes }) {
  const many = attacker(mode, port, { count, bytes, read: false });
  const settled = await waitFor(
    () => /settled/.test(many.output) || many.exitInfo !== undefined,
    120_000,
    100,
  );
  const line =
    /settled (.*)/.exec(many.output)?.[1] ??
    `not settled (${settled === undefined ? 'timeout' : 'exited'})`;
  return { many, line };
}

/** RSS per `mode` attacker connection on a freshly started pair of `kind`, as a {@link rssSlope}. */
async function rssPhase(result, kind, mode, upstream, { count, bytes }) {
  const pair = await startPair(kind, upstream, 'handshake-timeout=60');
  const attackers = [];
  try {
    await echoLatency(pair.port, 50);
    await sleep(300);
    const fdsBefore = fdCount(pair.server.pid);
    const slope = await rssSlope([pair.server.pid], rssKiB, count, async (n) => {
      const { many, line } = await attackAndSettle(mode, pair.server.port, { count: n, bytes });
      attackers.push(many);
      return line;
    });
    const fdsDuring = fdCount(pair.server.pid);
    const [perConnection] = slope.perConnection;
    const [[rssBefore], [rssMiddle], [rssAfter]] = [slope.before, slope.middle, slope.after];
    result.figure(
      `${count} attackers x ${bytes} bytes (${slope.opened.join('; ')}): server RSS ${kib(rssBefore)} -> ${kib(rssMiddle)} -> ${kib(rssAfter)}, ${kib(perConnection)} per connection over the second ${slope.over}; fds ${fdsBefore} -> ${fdsDuring}`,
    );
    result.check(
      `RSS per attacker connection <= ${RSS_LIMIT_KIB} KiB`,
      perConnection <= RSS_LIMIT_KIB,
      kib(perConnection),
      `<= ${RSS_LIMIT_KIB} KiB`,
    );
    for (const many of attackers.splice(0)) await stopProcess(many);
    await waitFor(() => fdCount(pair.server.pid) <= fdsBefore, 5000);
    result.figure(
      `fds after the attackers left: ${fdCount(pair.server.pid)} (before: ${fdsBefore})`,
    );
  } finally {
    for (const many of attackers) await stopProcess(many);
    await pair.stop();
  }
}

/** `mode` against the server side of `kind`: latency under one attacker, then RSS per attacker. */
async function memoryScenario(kind, mode, { count, bytes, rounds }) {
  const result = createResult();
  const echo = await startEchoServer();
  try {
    await latencyPhase(result, kind, mode, echo.port, rounds);
    await rssPhase(result, kind, mode, echo.port, { count, bytes });
  } finally {
    await echo.close();
  }
  return result;
}

export const tinyTlsRecords = {
  name: 'tiny-tls-records',
  about: 'tls server: a valid ClientHello, then 17 03 03 00 01 61 repeated, reading nothing',
  run: (profile) =>
    memoryScenario('tls', 'tiny-records', {
      count: profile.short ? 64 : 200,
      bytes: 256 * 1024,
      rounds: profile.short ? 300 : 1000,
    }),
};

export const oneByteFirstPacket = {
  name: 'one-byte-first-packet',
  about: 'http server: GET / HTTP/1.1\\r\\nX: then one byte per read, never a blank line',
  run: (profile) =>
    memoryScenario('http', 'one-byte', {
      count: profile.short ? 64 : 200,
      bytes: profile.short ? 4000 : 16_350,
      rounds: profile.short ? 300 : 1000,
    }),
};
