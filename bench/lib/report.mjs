// Medians, paired ratios, goals, and the printed tables.

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Metrics: key, table header, digits, and which stack kinds have it. */
export const METRICS = [
  { key: 'upload', head: 'up MB/s', digits: 0, kinds: ['direct', 'pair', 'ss-libev'] },
  { key: 'download', head: 'down MB/s', digits: 0, kinds: ['direct', 'pair', 'ss-libev'] },
  { key: 'par8', head: '8x down', digits: 0, kinds: ['direct', 'pair'] },
  { key: 'connRate', head: 'conn/s', digits: 0, kinds: ['direct', 'pair', 'ss-libev'] },
  { key: 'p50', head: 'p50 ms', digits: 2, kinds: ['direct', 'pair', 'ss-libev'] },
  { key: 'p99', head: 'p99 ms', digits: 2, kinds: ['direct', 'pair', 'ss-libev'] },
  { key: 'idleRss', head: 'idle MiB', digits: 1, kinds: ['pair'] },
  { key: 'memPerConn', head: 'KiB/conn', digits: 1, kinds: ['pair'] },
  { key: 'cpuPerGiB', head: 'CPU s/GiB', digits: 2, kinds: ['pair'] },
];

/** { metric: median over rounds } for one stack's per-round records. */
export function summarize(rounds) {
  const out = {};
  for (const m of METRICS) {
    const vals = rounds.map((r) => r?.[m.key]).filter((x) => x !== undefined);
    if (vals.length) out[m.key] = median(vals);
  }
  return out;
}

/** Per-round ratio stack/baseline for every metric both have, then the median of the ratios. */
export function pairedRatios(aRounds, bRounds) {
  const out = {};
  for (const m of METRICS) {
    const ratios = [];
    for (let r = 0; r < Math.min(aRounds.length, bRounds.length); r++) {
      const a = aRounds[r]?.[m.key];
      const b = bRounds[r]?.[m.key];
      if (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b);
    }
    if (ratios.length) out[m.key] = { median: median(ratios), perRound: ratios };
  }
  return out;
}

export function checkGoal(value, [op, target]) {
  if (!Number.isFinite(value)) return 'n/a';
  return (op === '>=' ? value >= target : value <= target) ? 'PASS' : 'FAIL';
}

function fmt(x, digits) {
  if (x === undefined) return '-';
  if (!Number.isFinite(x)) return 'n/a';
  return x.toFixed(digits);
}

export function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatResults(stacks, summaries) {
  const rows = stacks.map((s) => [
    s.name,
    ...METRICS.map((m) =>
      m.kinds.includes(s.kind) ? fmt(summaries[s.name]?.[m.key], m.digits) : '-',
    ),
  ]);
  return table(['stack', ...METRICS.map((m) => m.head)], rows);
}

export function formatRatios(comparisons) {
  if (comparisons.length === 0) return '';
  const used = METRICS.filter((m) => comparisons.some((c) => c.ratios[m.key]));
  const rows = comparisons.map((c) => [
    `${c.stack} / ${c.baseline}`,
    ...used.map((m) => {
      const r = c.ratios[m.key];
      if (!r) return '-';
      const g = c.goals[m.key];
      const v = `${r.median.toFixed(2)}x`;
      return g ? `${v} ${checkGoal(r.median, g)}` : v;
    }),
  ]);
  const legend = [];
  for (const c of comparisons) {
    const g = Object.entries(c.goals);
    if (!g.length) continue;
    const text = g
      .map(([k, [op, v]]) => `${METRICS.find((m) => m.key === k).head} ${op} ${v}`)
      .join(', ');
    legend.push(`  ${c.stack} / ${c.baseline}: ${text}`);
  }
  return (
    table(['ratio (median of per-round)', ...used.map((m) => m.head)], rows) +
    (legend.length ? `\n\nGoals:\n${legend.join('\n')}` : '')
  );
}
