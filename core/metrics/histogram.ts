import { checkNames, formatLabels, formatValue, header, seriesKey, type Labels, type Metric, type MetricOptions } from './metric.ts';

/** Bucket bounds for durations in seconds, from 1 ms to 30 s. */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Options of a histogram: the upper bounds of its buckets, ascending. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  buckets?: readonly number[];
}

/** A distribution of observations (latencies, sizes) in cumulative buckets. */
export interface Histogram<L extends string = never> extends Metric {
  observe(labels: Labels<L>, value: number): void;
  /** Starts a timer; calling the result observes the seconds elapsed (with labels known only at the end, if given). */
  startTimer(labels?: Labels<L>): (endLabels?: Labels<L>) => number;
  /** Count and sum of one series. */
  get(labels?: Labels<L>): { count: number; sum: number };
}

interface Series<L extends string> {
  labels: Labels<L>;
  counts: number[];
  count: number;
  sum: number;
}

/** Creates a histogram; register it with the registry's `histogram()` rather than calling this. */
export function createHistogram<L extends string = never>({
  name,
  help,
  labelNames = [],
  buckets = SECONDS_BUCKETS,
}: HistogramOptions<L>): Histogram<L> {
  checkNames(name, labelNames);
  const bounds = [...buckets];
  if (bounds.some((b, i) => i > 0 && b <= bounds[i - 1]!)) throw new Error(`metrics: buckets of ${name} must ascend`);
  const series = new Map<string, Series<L>>();
  const observe = (labels: Labels<L>, value: number) => {
    const key = seriesKey(labelNames, labels);
    let s = series.get(key);
    if (!s) series.set(key, (s = { labels: { ...labels }, counts: bounds.map(() => 0), count: 0, sum: 0 }));
    const i = bounds.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.count += 1;
    s.sum += value;
  };
  return {
    name,
    type: 'histogram',
    observe,
    startTimer(labels = {}) {
      const started = performance.now();
      return (endLabels) => {
        const seconds = (performance.now() - started) / 1000;
        observe(endLabels ? { ...labels, ...endLabels } : labels, seconds);
        return seconds;
      };
    },
    get(labels = {}) {
      const s = series.get(seriesKey(labelNames, labels));
      return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
    },
    render() {
      let out = header(name, help, 'histogram');
      for (const s of series.values()) {
        let cumulative = 0;
        bounds.forEach((b, i) => {
          cumulative += s.counts[i]!;
          out += `${name}_bucket${formatLabels(labelNames, s.labels, `le="${formatValue(b)}"`)} ${cumulative}\n`;
        });
        out += `${name}_bucket${formatLabels(labelNames, s.labels, 'le="+Inf"')} ${s.count}\n`;
        out += `${name}_sum${formatLabels(labelNames, s.labels)} ${formatValue(s.sum)}\n`;
        out += `${name}_count${formatLabels(labelNames, s.labels)} ${s.count}\n`;
      }
      return out;
    },
  };
}
