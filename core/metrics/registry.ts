import { createCounter, type Counter } from './counter.ts';
import { createGauge, type Gauge } from './gauge.ts';
import { createHistogram, type Histogram, type HistogramOptions } from './histogram.ts';
import type { Metric, MetricOptions } from './metric.ts';

/** Brings gauges up to date just before a scrape (e.g. one grouped query for queue depths). */
export type Collector = () => void | Promise<void>;

/** A set of metrics rendered together in the Prometheus text format. One per process, passed explicitly. */
export interface Registry {
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>;
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L>;
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** Adds a collector run before every render; returns a function that removes it. */
  collect(collector: Collector): () => void;
  /** Runs the collectors, then renders every metric. A failing collector leaves its gauges as they were. */
  render(): Promise<string>;
}

/** Options for {@link createRegistry}. */
export interface RegistryOptions {
  /** Called with the error of a collector that failed (the scrape still answers). */
  onCollectError?: (err: unknown) => void;
}

/** Creates an empty metrics registry. */
export function createRegistry({ onCollectError }: RegistryOptions = {}): Registry {
  const metrics = new Map<string, Metric>();
  const collectors = new Set<Collector>();
  const add = <M extends Metric>(metric: M): M => {
    if (metrics.has(metric.name)) throw new Error(`metrics: ${metric.name} is registered twice`);
    metrics.set(metric.name, metric);
    return metric;
  };
  return {
    counter: (options) => add(createCounter(options)),
    gauge: (options) => add(createGauge(options)),
    histogram: (options) => add(createHistogram(options)),
    collect(collector) {
      collectors.add(collector);
      return () => collectors.delete(collector);
    },
    async render() {
      const results = await Promise.allSettled([...collectors].map((c) => c()));
      for (const r of results) if (r.status === 'rejected') onCollectError?.(r.reason);
      return [...metrics.values()].map((m) => m.render()).join('');
    },
  };
}
