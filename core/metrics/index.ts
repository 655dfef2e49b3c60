export { createRegistry, type Registry, type RegistryOptions, type Collector } from './registry.ts';
export type { Counter } from './counter.ts';
export type { Gauge } from './gauge.ts';
export { SECONDS_BUCKETS, type Histogram, type HistogramOptions } from './histogram.ts';
export type { Labels, MetricOptions } from './metric.ts';
export { createMetricsEndpoint, METRICS_CONTENT_TYPE } from './endpoint.ts';
export { createRateWindow, type RateWindow, type RateWindowOptions } from './rate-window.ts';
