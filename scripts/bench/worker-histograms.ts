// The workers' Prometheus histograms (lease and result-write durations), summed over a fleet and read as quantiles.

/** A histogram as Prometheus exposes it: cumulative counts per upper bound, the sum and the count. */
export interface Histogram {
  /** Upper bound (`le`, +Inf last) → cumulative count. */
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

const empty = (): Histogram => ({ buckets: new Map(), sum: 0, count: 0 });

/** Adds every series of histogram `name` in a /metrics text into `into` (whatever their labels). */
function addHistogram(into: Histogram, text: string, name: string): void {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      into.buckets.set(bound, (into.buckets.get(bound) ?? 0) + value);
    } else if (line.startsWith(`${name}_sum `) || line.startsWith(`${name}_sum{`)) into.sum += value;
    else if (line.startsWith(`${name}_count `) || line.startsWith(`${name}_count{`)) into.count += value;
  }
}

/** Reads the named histograms of every worker's /metrics, summed over the workers; a worker that does not answer is skipped. */
export async function scrapeHistograms(urls: readonly string[], names: readonly string[]): Promise<Map<string, Histogram>> {
  const sums = new Map(names.map((n) => [n, empty()]));
  const texts = await Promise.all(
    urls.map((url) =>
      fetch(url, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.text())
        .catch(() => ''),
    ),
  );
  for (const text of texts) for (const name of names) addHistogram(sums.get(name)!, text, name);
  return sums;
}

/** What `after` counted that `before` had not: the histogram of a time window. */
export function since(after: Histogram, before: Histogram | undefined): Histogram {
  const buckets = new Map([...after.buckets].map(([le, n]) => [le, n - (before?.buckets.get(le) ?? 0)]));
  return { buckets, sum: after.sum - (before?.sum ?? 0), count: after.count - (before?.count ?? 0) };
}

/**
 * The q-quantile (0..1) in seconds, interpolated linearly inside its bucket as Prometheus's
 * histogram_quantile does; the highest finite bound when it falls in the +Inf bucket; NaN when empty.
 */
export function quantileOf(h: Histogram, q: number): number {
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
  const total = h.buckets.get(Number.POSITIVE_INFINITY) ?? h.count;
  if (!total) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const cumulative = h.buckets.get(bound)!;
    if (cumulative >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return lower;
      return lower + ((bound - lower) * (rank - below)) / Math.max(1, cumulative - below);
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}
