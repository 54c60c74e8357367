// Order statistics for timing samples. Medians and high percentiles rather than
// means, because a few slow outliers (page faults, a GC pause, a neighbour on the
// VM) would otherwise dominate a comparison between runtimes.

export interface Summary {
  median: number;
  p95: number;
}

/**
 * The q-quantile, interpolating linearly between the closest ranks (numpy's
 * default), so a p95 of a few hundred samples doesn't jump with one sample.
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new RangeError('quantile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within [0, 1], got ${q}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  return { median: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

/** How `a` compares to `b`, statistic by statistic (below 1: `a` is faster). */
export function ratio(a: Summary, b: Summary): Summary {
  return { median: a.median / b.median, p95: a.p95 / b.p95 };
}
