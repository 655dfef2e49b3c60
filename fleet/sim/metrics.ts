/** The counters the simulator exposes on /metrics. */
export interface SimCounters {
  running: number;
  waiting: number;
  slots: number;
  kvUsage: number;
  preemptions: number;
  generationTokens: number;
  promptTokens: number;
  requests: number;
  aborted: number;
  /** Finished requests by the engine's finish reason (stop, length, abort). */
  finished: Record<string, number>;
}

/** vLLM's FinishReason values (vllm/v1/engine/__init__.py), each a pre-created request_success series. */
const FINISH_REASONS = ['stop', 'length', 'abort', 'error', 'repetition'];

/** prometheus_client's floatToGoString: `1.0`, and exponents from 1e7 on as Go writes them. */
export function goFloat(value: number): string {
  const s = Number.isInteger(value) ? `${value}.0` : String(value);
  const dot = s.indexOf('.');
  if (value > 0 && dot > 6) {
    const mantissa = `${s[0]}.${s.slice(1, dot)}${s.slice(dot + 1)}`.replace(/[0.]+$/, '');
    return `${mantissa}e+0${dot - 1}`;
  }
  return s;
}

/** Options for {@link formatMetrics}. */
export interface MetricsOptions {
  /** The first served name (model_config.served_model_name). */
  model: string;
  /** `--disable-log-stats`: vLLM registers no stat logger, so /metrics has no `vllm:` series. */
  disableLogStats: boolean;
}

/**
 * Prometheus text as vLLM's PrometheusStatLogger registers it (vllm/v1/metrics/loggers.py):
 * labels `model_name` and `engine` ("0": one engine core), counters with `_total`, values as
 * prometheus_client writes floats; then the `sim:` extras tests read.
 */
export function formatMetrics({ model, disableLogStats }: MetricsOptions, c: SimCounters): string {
  const label = `model_name=${JSON.stringify(model)},engine="0"`;
  const series = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, value]) => `${name}{${labels}} ${goFloat(value)}`),
  ];
  const lines = disableLogStats
    ? []
    : [
        ...series('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.', [[label, c.running]]),
        ...series('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', [[label, c.waiting]]),
        ...series('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.', [[label, c.kvUsage]]),
        ...series('vllm:num_preemptions_total', 'counter', 'Cumulative number of preemption from the engine.', [[label, c.preemptions]]),
        ...series('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', [[label, c.promptTokens]]),
        ...series('vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.', [[label, c.generationTokens]]),
        ...series(
          'vllm:request_success_total',
          'counter',
          'Count of successfully processed requests.',
          FINISH_REASONS.map((reason) => [`${label},finished_reason="${reason}"`, c.finished[reason] ?? 0]),
        ),
      ];
  lines.push(
    '# HELP sim:slots Sequence slots of the simulated engine (max_num_seqs).',
    '# TYPE sim:slots gauge',
    `sim:slots ${c.slots}`,
    '# HELP sim:requests_total Generation and embedding requests received.',
    '# TYPE sim:requests_total counter',
    `sim:requests_total ${c.requests}`,
    '# HELP sim:requests_aborted_total Requests whose client went away before the end.',
    '# TYPE sim:requests_aborted_total counter',
    `sim:requests_aborted_total ${c.aborted}`,
  );
  return `${lines.join('\n')}\n`;
}
