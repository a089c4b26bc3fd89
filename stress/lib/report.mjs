// What a scenario returns: figures to print, and checks of the thresholds.

/** A scenario's result under construction. */
export function createResult() {
  const figures = [];
  const checks = [];
  return {
    figures,
    checks,
    /** A measured figure, printed as is. */
    figure(text) {
      figures.push(text);
    },
    /** A threshold: `ok` says whether `value` met `limit`. */
    check(what, ok, value, limit) {
      checks.push({ what, ok, value, limit });
    },
  };
}
