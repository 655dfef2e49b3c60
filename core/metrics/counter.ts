import { checkNames, formatLabels, formatValue, header, seriesKey, type Labels, type Metric, type MetricOptions } from './metric.ts';

/** A value that only goes up (requests completed, errors seen). Names end in `_total`. */
export interface Counter<L extends string = never> extends Metric {
  inc(labels?: Labels<L>, by?: number): void;
  /** Sets a total read from a source of truth at scrape time (Postgres counters); it must not go down. */
  set(labels: Labels<L>, value: number): void;
  /** The current value of one series (for tests and for gauges derived from it). */
  get(labels?: Labels<L>): number;
}

/** Creates a counter; register it with the registry's `counter()` rather than calling this. */
export function createCounter<L extends string = never>({ name, help, labelNames = [] }: MetricOptions<L>): Counter<L> {
  checkNames(name, labelNames);
  const series = new Map<string, { labels: Labels<L>; value: number }>();
  return {
    name,
    type: 'counter',
    inc(labels = {}, by = 1) {
      if (!(by >= 0)) throw new Error(`metrics: ${name} can only go up (got ${by})`);
      const key = seriesKey(labelNames, labels);
      const s = series.get(key);
      if (s) s.value += by;
      else series.set(key, { labels: { ...labels }, value: by });
    },
    set(labels, value) {
      series.set(seriesKey(labelNames, labels), { labels: { ...labels }, value });
    },
    get: (labels = {}) => series.get(seriesKey(labelNames, labels))?.value ?? 0,
    render() {
      let out = header(name, help, 'counter');
      // An unlabelled counter shows 0 before its first increment, so that rate() has a start.
      if (series.size === 0 && labelNames.length === 0) out += `${name} 0\n`;
      for (const s of series.values()) out += `${name}${formatLabels(labelNames, s.labels)} ${formatValue(s.value)}\n`;
      return out;
    },
  };
}
