/**
 * "Did you mean ...?" for misspelt keys, purposes and enum values.
 *
 * Optimal string alignment distance (Levenshtein plus adjacent transposition),
 * so `ulr` is one edit from `url`, as a typist would count it.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Case, `-` and `_` are ignored, so `purge_interval` and `PurgeInterval` find `purgeInterval`. */
function normalise(s: string): string {
  return s.toLowerCase().replace(/[-_\s]/g, '');
}

/** Edits allowed before a guess stops being helpful and starts being noise. */
function tolerance(word: string): number {
  if (word.length <= 3) return 1;
  if (word.length <= 6) return 2;
  return 3;
}

/** The candidate closest to `word`, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = normalise(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, normalise(c));
    if (dist < bestDistance && dist <= tolerance(c) && dist < c.length) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}
