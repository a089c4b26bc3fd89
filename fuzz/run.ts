/**
 * `pnpm fuzz`: property-based fuzzing of every parser a peer or a configuration reaches (see
 * fuzz/README.md). Runs each target for --runs inputs or --seconds, whichever ends first, prints
 * inputs run and seconds per target, and exits 1 on a finding (with the shrunk input and the
 * seed that replays it) or when a target stopped at its time limit short of its inputs.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { httpRequest, httpResponse } from './targets/http.ts';
import { tlsClientHello, tlsRecords, tlsServerHello } from './targets/tls.ts';
import { sip003Options, ssEnv } from './targets/config.ts';
import type { FuzzTarget } from './target.ts';

const TARGETS: readonly FuzzTarget[] = [
  httpRequest,
  httpResponse,
  tlsRecords,
  tlsClientHello,
  tlsServerHello,
  sip003Options,
  ssEnv,
];

const HELP = `Usage: pnpm fuzz [--smoke] [--runs N] [--seconds S] [--seed N] [--only a,b] [--list]
  (default)     ${(1_000_000).toLocaleString('en')} inputs per target, at most 900 s each
  --smoke       2000 inputs per target, at most 15 s each (what CI runs)
  --runs N      inputs per target
  --seconds S   time limit per target; reaching it before --runs is a failure
  --seed N      replay a run (every finding prints its seed)
  --only a,b    these targets only (see --list)
  --jobs N      targets fuzzed at once, each in its own process (default: the CPU count; 1 with --smoke)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      only: { type: 'string' },
      jobs: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(18)} ${t.reaches}`);
    return 0;
  }
  const runs = count(values.runs) ?? (values.smoke ? 2000 : 1_000_000);
  const seconds = count(values.seconds) ?? (values.smoke ? 15 : 900);
  const seed = count(values.seed) ?? Math.floor(Math.random() * 2 ** 31);
  // A smoke run is over before the children's start-up (tsx) would pay off.
  const jobs = count(values.jobs) ?? (values.smoke ? 1 : availableParallelism());
  if ([runs, seconds, seed, jobs].some(Number.isNaN)) {
    console.error(`fuzz: --runs, --seconds, --seed and --jobs take whole numbers\n${HELP}`);
    return 2;
  }
  const names = values.only?.split(',') ?? TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    console.error(
      `fuzz: unknown target ${unknown.join(', ')} (known: ${TARGETS.map((t) => t.name).join(', ')})`,
    );
    return 2;
  }
  const selected = TARGETS.filter((t) => names.includes(t.name));
  console.log(
    `fuzz: ${runs} inputs per target, at most ${seconds} s each, seed ${seed}` +
      (jobs > 1 && selected.length > 1 ? `, ${Math.min(jobs, selected.length)} at a time` : ''),
  );
  const settings = { runs, seconds, seed };
  const failed =
    jobs > 1 && selected.length > 1
      ? await fuzzInChildren(selected, settings, jobs)
      : fuzzHere(selected, settings);
  return failed === 0 ? 0 : 1;
}

interface Settings {
  readonly runs: number;
  readonly seconds: number;
  readonly seed: number;
}

/** Fuzzes `targets` one after the other in this process; returns how many failed. */
function fuzzHere(targets: readonly FuzzTarget[], { runs, seconds, seed }: Settings): number {
  let failed = 0;
  for (const target of targets) {
    const started = performance.now();
    const details = target.check({
      numRuns: runs,
      seed,
      plugins: [fc.interruptAfterTimeLimit(seconds * 1000)],
    });
    const took = ((performance.now() - started) / 1000).toFixed(1);
    const ran = details.numRuns.toLocaleString('en');
    if (details.failed) {
      failed++;
      console.log(`FAIL ${target.name.padEnd(18)} after ${ran} inputs, ${took} s`);
      console.log(`  ${String(details.errorInstance)}`.split('\n')[0]);
      console.log(`  input: ${show(details.counterexample, 96)}`);
      console.log(`  whole input in ${saveFinding(target.name, details.counterexample)}`);
      console.log(
        `  replay: pnpm fuzz --only ${target.name} --seed ${details.seed} (path ${details.counterexamplePath})`,
      );
    } else if (details.numRuns < runs) {
      failed++;
      console.log(
        `SHORT ${target.name.padEnd(17)} ${ran} of ${runs.toLocaleString('en')} inputs in ${took} s (time limit)`,
      );
    } else {
      console.log(`ok   ${target.name.padEnd(18)} ${ran} inputs, ${took} s, 0 failures`);
    }
  }
  return failed;
}

/**
 * Fuzzes each target in a child process running this script, `jobs` at a time, printing each
 * child's lines when it ends; returns how many failed (a child that dies counts as failed).
 */
async function fuzzInChildren(
  targets: readonly FuzzTarget[],
  { runs, seconds, seed }: Settings,
  jobs: number,
): Promise<number> {
  const queue = [...targets];
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (let target = queue.shift(); target !== undefined; target = queue.shift()) {
      const args = [...process.execArgv, process.argv[1] ?? 'fuzz/run.ts', '--jobs', '1'];
      args.push('--only', target.name, '--runs', `${runs}`, '--seconds', `${seconds}`);
      args.push('--seed', `${seed}`);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
      const code = await new Promise<number | null>((resolve) => {
        child.on('close', (c) => resolve(c));
        child.on('error', () => resolve(null));
      });
      // Drop the child's own header line; the parent printed the settings.
      process.stdout.write(output.split('\n').slice(1).join('\n'));
      if (code !== 0) {
        failed++;
        if (!/^(FAIL|SHORT)/m.test(output)) console.log(`FAIL ${target.name}: exited ${code}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, targets.length) }, worker));
  return failed;
}

/** A whole number from the command line; NaN when it is not one. */
function count(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 ? n : NaN;
}

/** A counterexample as something to paste into a test: buffers in hex, the rest as JSON. */
function show(example: unknown, limit = Infinity): string {
  return JSON.stringify(example, (_key, value: unknown) => {
    if (
      value === null ||
      typeof value !== 'object' ||
      (value as { type?: unknown }).type !== 'Buffer'
    )
      return value;
    const bytes = Buffer.from((value as { data: number[] }).data);
    return bytes.length <= limit
      ? `hex:${bytes.toString('hex')}`
      : `hex:${bytes.toString('hex', 0, limit)}... (${bytes.length} bytes)`;
  });
}

/** Writes the whole counterexample to .tmp/fuzz/<target>.json; returns the path. */
function saveFinding(target: string, example: unknown): string {
  const path = `.tmp/fuzz/${target}.json`;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${show(example)}\n`);
  return path;
}

process.exitCode = await main();
