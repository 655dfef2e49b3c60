import { checkNames, formatLabels, formatValue, header, seriesKey, type Labels, type Metric, type MetricOptions } from './metric.ts';

/** A value that goes up and down (in flight, subscribers connected, queued requests). */
export interface Gauge<L extends string = never> extends Metric {
  set(labels: Labels<L>, value: number): void;
  inc(labels?: Labels<L>, by?: number): void;
  dec(labels?: Labels<L>, by?: number): void;
  get(labels?: Labels<L>): number;
  /** Forgets every series: a collector that reads a snapshot clears it first, so vanished label sets disappear. */
  reset(): void;
}

/** Creates a gauge; register it with the registry's `gauge()` rather than calling this. */
export function createGauge<L extends string = never>({ name, help, labelNames = [] }: MetricOptions<L>): Gauge<L> {
  checkNames(name, labelNames);
  const series = new Map<string, { labels: Labels<L>; value: number }>();
  const add = (labels: Labels<L>, by: number) => {
    const key = seriesKey(labelNames, labels);
    const s = series.get(key);
    if (s) s.value += by;
    else series.set(key, { labels: { ...labels }, value: by });
  };
  return {
    name,
    type: 'gauge',
    set(labels, value) {
      series.set(seriesKey(labelNames, labels), { labels: { ...labels }, value });
    },
    inc: (labels = {}, by = 1) => add(labels, by),
    dec: (labels = {}, by = 1) => add(labels, -by),
    get: (labels = {}) => series.get(seriesKey(labelNames, labels))?.value ?? 0,
    reset: () => series.clear(),
    render() {
      let out = header(name, help, 'gauge');
      if (series.size === 0 && labelNames.length === 0) out += `${name} 0\n`;
      for (const s of series.values()) out += `${name}${formatLabels(labelNames, s.labels)} ${formatValue(s.value)}\n`;
      return out;
    },
  };
}
