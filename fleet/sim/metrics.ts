/** The counters the simulator exposes on /metrics. */
export interface SimCounters {
  running: number;
  waiting: number;
  slots: number;
  generationTokens: number;
  promptTokens: number;
  requests: number;
  aborted: number;
  finished: Record<string, number>;
}

/** Prometheus text with vLLM's metric names (labelled with the first served model), plus `sim:` extras. */
export function formatMetrics(model: string, c: SimCounters): string {
  const label = `model_name=${JSON.stringify(model)}`;
  const lines = [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{${label}} ${c.running}`,
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{${label}} ${c.waiting}`,
    '# HELP vllm:generation_tokens_total Number of generation tokens processed.',
    '# TYPE vllm:generation_tokens_total counter',
    `vllm:generation_tokens_total{${label}} ${c.generationTokens}`,
    '# HELP vllm:prompt_tokens_total Number of prefill tokens processed.',
    '# TYPE vllm:prompt_tokens_total counter',
    `vllm:prompt_tokens_total{${label}} ${c.promptTokens}`,
    '# HELP vllm:request_success_total Count of successfully processed requests.',
    '# TYPE vllm:request_success_total counter',
    ...Object.entries(c.finished).map(([reason, n]) => `vllm:request_success_total{${label},finished_reason="${reason}"} ${n}`),
    '# HELP sim:slots Sequence slots of the simulated engine (max_num_seqs).',
    '# TYPE sim:slots gauge',
    `sim:slots ${c.slots}`,
    '# HELP sim:requests_total Generation and embedding requests received.',
    '# TYPE sim:requests_total counter',
    `sim:requests_total ${c.requests}`,
    '# HELP sim:requests_aborted_total Requests whose client went away before the end.',
    '# TYPE sim:requests_aborted_total counter',
    `sim:requests_aborted_total ${c.aborted}`,
  ];
  return `${lines.join('\n')}\n`;
}
