/**
 * The code cites the wire specification by section (`§2.3`, `§10 row 4`). The spec lives in this
 * package (spec/simple-obfs-wire.md), so every citation must name a section that exists there.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const spec = readFileSync(path.join(root, 'spec/simple-obfs-wire.md'), 'utf8');
const sections = new Set([...spec.matchAll(/^#{2,3} (\d+(?:\.\d+)*)\.? /gm)].map((m) => m[1]));
// §10 is a table of numbered rows; a citation "§10 row N" needs row N.
const section10 = spec.slice(spec.indexOf('## 10.'), spec.indexOf('## 11.'));
const rows = new Set([...section10.matchAll(/^\| *(\d+) *\|/gm)].map((m) => Number(m[1])));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

interface Citation {
  readonly where: string;
  readonly section: string;
  readonly row?: number;
}

function citations(): Citation[] {
  const found: Citation[] = [];
  for (const file of [
    ...sourceFiles(path.join(root, 'src')),
    ...sourceFiles(path.join(root, 'test')),
  ]) {
    const text = readFileSync(file, 'utf8');
    // RFC sections (e.g. "RFC 6455 §1.3") are not ours.
    for (const m of text.matchAll(/(RFC \d+ )?§(\d+(?:\.\d+)*)(?: rows? (\d+))?/g)) {
      if (m[1] !== undefined || m[2] === undefined) continue;
      const line = text.slice(0, m.index).split('\n').length;
      found.push({
        where: `${path.relative(root, file)}:${line}`,
        section: m[2],
        ...(m[3] === undefined ? {} : { row: Number(m[3]) }),
      });
    }
  }
  return found;
}

describe('spec/simple-obfs-wire.md', () => {
  it('has its numbered sections and the §10 table', () => {
    expect(sections.size).toBeGreaterThan(20);
    expect(rows.size).toBeGreaterThan(10);
  });

  it('has every section the code cites', () => {
    const all = citations();
    expect(all.length).toBeGreaterThan(50);
    const missing = all.filter(
      (c) =>
        !sections.has(c.section) ||
        (c.row !== undefined && (c.section !== '10' || !rows.has(c.row))),
    );
    expect(missing).toEqual([]);
  });
});
