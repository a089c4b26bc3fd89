/**
 * Damerau-Levenshtein distance (optimal string alignment): insertions, deletions, substitutions
 * and swaps of two neighbours each cost 1, so `pad-mxa` is 1 from `pad-max` and 2 from `pad-min`.
 */
export function editDistance(a: string, b: string): number {
  // Three rows: the swap looks two characters back.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/** The closest known name, if it is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const score = norm(k) === norm(name) ? 0 : editDistance(name.toLowerCase(), k.toLowerCase());
    if (score < bestScore) {
      best = k;
      bestScore = score;
    }
  }
  // One- and two-letter names are too short for an edit distance to mean anything.
  const allowed = name.length < 3 ? 0 : Math.max(1, Math.floor(name.length / 3));
  return best !== undefined && bestScore <= allowed ? best : undefined;
}
