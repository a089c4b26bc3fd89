// Runs vitest with the default reporter plus a JSON report, then prints one closing line
// "N passed, N failed, N skipped" that CI systems read. Exits with vitest's code.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const report = '.tmp/vitest-report.json';
rmSync(report, { force: true });
// vitest's bin file (not in its exports map, so located from the workspace root).
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const run = spawnSync(
  process.execPath,
  [
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let summary = 'vitest wrote no report';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
  // Unhandled errors fail the run without failing a test: say so on the same line.
  if (run.status !== 0 && r.numFailedTests === 0)
    summary += ', but the run failed (unhandled errors or a crashed worker: see above)';
} catch {
  // no report: vitest crashed before writing it; the exit code below says so
}
console.log(summary);
process.exit(run.status ?? 1);
