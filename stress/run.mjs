// `pnpm stress`: hostile and unlucky traffic against the built plugins (packages/*/dist, started as
// real SIP003 processes), on loopback, bounded in time. Prints each scenario's figures, checks the
// thresholds of issue 9's "Done when", and exits 1 when one fails. See stress/README.md.

import { parseArgs } from 'node:util';
import { killAllNow } from '../bench/lib/proc.mjs';
import { churn } from './scenarios/churn.mjs';
import { rstFidelity } from './scenarios/fidelity.mjs';
import { hostSigkill, sigtermUnderLoad } from './scenarios/lifecycle.mjs';
import { maxConnections } from './scenarios/limits.mjs';
import { oneByteFirstPacket, tinyTlsRecords } from './scenarios/memory.mjs';
import { finAndStop, slowloris, slowPeers } from './scenarios/peers.mjs';

const SCENARIOS = [
  slowloris,
  oneByteFirstPacket,
  tinyTlsRecords,
  slowPeers,
  finAndStop,
  churn,
  maxConnections,
  sigtermUnderLoad,
  hostSigkill,
  rstFidelity,
];

const HELP = `Usage: pnpm stress [--short] [--only a,b] [--list]
  --short     the CI profile: fewer connections and rounds (about 1.5 minutes)
  --only a,b  these scenarios only (see --list)
Needs pnpm build first (it runs packages/*/dist).`;

async function main() {
  const { values } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      only: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return (console.log(HELP), 0);
  if (values.list) {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(24)} ${s.about}`);
    return 0;
  }
  const names = values.only?.split(',') ?? SCENARIOS.map((s) => s.name);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(`stress: unknown scenario ${unknown.join(', ')} (see pnpm stress --list)`);
    return 2;
  }
  const profile = { short: values.short };
  console.log(`stress: ${values.short ? 'short' : 'full'} profile, ${names.length} scenarios`);
  const summary = [];
  const started = performance.now();
  for (const scenario of SCENARIOS.filter((s) => names.includes(s.name))) {
    const t0 = performance.now();
    console.log(`\n== ${scenario.name}: ${scenario.about}`);
    let result;
    try {
      result = await scenario.run(profile);
    } catch (error) {
      console.log(`  ERROR ${error?.stack ?? error}`);
      summary.push({ name: scenario.name, status: 'ERROR' });
      continue;
    }
    for (const f of result.figures) console.log(`  ${f}`);
    for (const c of result.checks)
      console.log(`  ${c.ok ? 'pass' : 'FAIL'} ${c.what}: ${c.value} (${c.limit})`);
    const failed = result.checks.filter((c) => !c.ok).length;
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    summary.push({
      name: scenario.name,
      status: failed > 0 ? `FAIL (${failed})` : result.checks.length > 0 ? 'pass' : 'figures',
      seconds,
    });
  }
  console.log(`\nstress summary (${((performance.now() - started) / 1000).toFixed(0)} s):`);
  for (const s of summary)
    console.log(`  ${s.status.padEnd(9)} ${s.name}${s.seconds ? ` (${s.seconds} s)` : ''}`);
  return summary.every((s) => s.status === 'pass' || s.status === 'figures') ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}
try {
  process.exitCode = await main();
} finally {
  killAllNow();
}
