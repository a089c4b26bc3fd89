// The bench's command line (util.parseArgs) and its presets.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize } from '../../packages/sdk/dist/cli/args.js';

const MiB = 1024 * 1024;

// ss-libev stacks get shorter transfers and windows: they are only compared with ss-libev-none
// (goal 0.85x), and the full run has to stay near 8 minutes on 2 cores.
export const PRESETS = {
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

/** One line describing a configuration. */
export function describeConfig(c) {
  return (
    `${c.rounds} rounds, ${c.bytes / MiB} MiB transfers, ${c.connSeconds} s conn-rate windows, ` +
    `${c.idleConns} idle conns; ss-libev stacks ${c.ssBytes / MiB} MiB, ${c.ssConnSeconds} s`
  );
}

export function usage() {
  return `Usage: pnpm bench [options]    (node bench/run.mjs [options])
  (default)           full run: ${describeConfig(PRESETS.full)} (~8 min)
  --quick             ${describeConfig(PRESETS.quick)} (< 1 min)
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

const OPTIONS = {
  quick: { type: 'boolean' },
  full: { type: 'boolean' },
  only: { type: 'string' },
  all: { type: 'boolean' },
  rounds: { type: 'string' },
  bytes: { type: 'string' },
  'conn-seconds': { type: 'string' },
  'idle-conns': { type: 'string' },
  'ss-bytes': { type: 'string' },
  'ss-conn-seconds': { type: 'string' },
  out: { type: 'string' },
  strict: { type: 'boolean' },
  list: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

function size(flag, text) {
  const bytes = parseSize(text);
  if (bytes === undefined) throw new Error(`--${flag}: bad size "${text}" (try 64MiB)`);
  return bytes;
}

/** Parses argv into { preset, only, all, out, strict, list, help, config }; throws on bad input. */
export function parseBenchArgs(argv, defaultOut) {
  let parsed;
  try {
    // pnpm passes a lone `--` through; it separates nothing here.
    parsed = parseArgs({ args: argv.filter((a) => a !== '--'), options: OPTIONS, strict: true });
  } catch (e) {
    throw new Error(`${e.message}\n${usage()}`, { cause: e });
  }
  const v = parsed.values;
  const o = {
    preset: v.quick && !v.full ? 'quick' : 'full',
    only: v.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    out: v.out === undefined ? defaultOut : path.resolve(v.out),
    all: v.all,
    strict: v.strict,
    list: v.list,
    help: v.help,
  };
  const over = {};
  if (v.rounds !== undefined) over.rounds = Number(v.rounds);
  if (v.bytes !== undefined) over.bytes = size('bytes', v.bytes);
  if (v['conn-seconds'] !== undefined) over.connSeconds = Number(v['conn-seconds']);
  if (v['idle-conns'] !== undefined) over.idleConns = Number(v['idle-conns']);
  if (v['ss-bytes'] !== undefined) over.ssBytes = size('ss-bytes', v['ss-bytes']);
  if (v['ss-conn-seconds'] !== undefined) over.ssConnSeconds = Number(v['ss-conn-seconds']);
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
