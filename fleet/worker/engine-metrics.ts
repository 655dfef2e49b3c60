/** What one read of the engine's /metrics showed. */
export type LoadReading =
  /** The engine's scheduler gauges, summed over its data-parallel ranks (vLLM's label `engine`). */
  | {
      kind: 'load';
      running: number;
      waiting: number;
      /** KV-cache usage (1 = full), the fullest rank's: `vllm:kv_cache_usage_perc`, `sglang:token_usage`; null when absent. */
      kvCacheUsage: number | null;
      /** Whose gauges these are. */
      engine?: EngineGauges;
      /** Not the engine's gauges: the worker's own requests, answered (running) and long unanswered (waiting). */
      observed?: boolean;
    }
  /** /metrics answered, but without scheduler gauges (vLLM's `--disable-log-stats`), or it is not served to us at all (404, 501, a 401 or another 4xx). */
  | { kind: 'no_gauges'; status: number }
  /** No answer (the engine is down or busy): says nothing about its gauges. */
  | { kind: 'unreachable' };

/** Reads the engine's /metrics. */
export type ReadLoad = () => Promise<LoadReading>;

/** The engines whose load gauges the worker reads. */
export type EngineGauges = 'vllm' | 'llamacpp' | 'sglang';

/**
 * Each engine's names for requests running, requests waiting and cache usage: vLLM
 * (vllm/v1/metrics/loggers.py), llama.cpp's llama-server with --metrics
 * (`llamacpp:requests_processing`, `llamacpp:requests_deferred`), SGLang
 * (`sglang:num_running_reqs`, `sglang:num_queue_reqs`, `sglang:token_usage`).
 */
const GAUGES: Record<string, 'running' | 'waiting' | 'kv'> = {
  'vllm:num_requests_running': 'running',
  'vllm:num_requests_waiting': 'waiting',
  'vllm:kv_cache_usage_perc': 'kv',
  'llamacpp:requests_processing': 'running',
  'llamacpp:requests_deferred': 'waiting',
  'sglang:num_running_reqs': 'running',
  'sglang:num_queue_reqs': 'waiting',
  'sglang:token_usage': 'kv',
};
const GAUGE = /^((vllm|llamacpp|sglang):\w+)(?:\{[^}]*\})?\s+(\S+)/;

/**
 * Parses an engine's Prometheus text. vLLM labels each gauge with `model_name` and `engine` (one
 * series per data-parallel rank: vllm/v1/metrics/loggers.py, create_metric_per_engine), so the
 * counts are summed; cache usage is the fullest rank's.
 */
export function parseEngineLoad(text: string, status = 200): LoadReading {
  let running: number | null = null;
  let waiting = 0;
  let kvCacheUsage: number | null = null;
  let engine: EngineGauges | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = GAUGE.exec(line);
    const gauge = match && GAUGES[match[1] as string];
    if (!gauge) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    engine = match[2] as EngineGauges;
    if (gauge === 'running') running = (running ?? 0) + value;
    else if (gauge === 'waiting') waiting += value;
    else kvCacheUsage = Math.max(kvCacheUsage ?? 0, value);
  }
  return running === null ? { kind: 'no_gauges', status } : { kind: 'load', running, waiting, kvCacheUsage, engine };
}

/** Options for {@link createLoadReader}. */
export interface LoadReaderOptions {
  /** The engine's base URL, without `/v1`. */
  baseUrl: string;
  timeoutMs?: number;
  /** Sent as a bearer token: vLLM leaves /metrics open, but llama-server started with --api-key guards it. */
  apiKey?: string | undefined;
  fetch?: typeof fetch;
}

/**
 * A reader of the engine's /metrics. vLLM serves /metrics without the API key (only `/v1` is
 * behind `--api-key`); llama-server guards it, so the key is sent when there is one.
 */
export function createLoadReader({ baseUrl, timeoutMs = 2000, apiKey, fetch: doFetch = fetch }: LoadReaderOptions): ReadLoad {
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return async () => {
    try {
      const res = await doFetch(`${baseUrl}/metrics`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      // 501: llama-server started without --metrics; any other 4xx (a 401 of an engine or proxy
      // that guards it) says as plainly that no gauges are to be had here.
      if (res.status === 501 || (res.status >= 400 && res.status < 500)) {
        await res.body?.cancel();
        return { kind: 'no_gauges', status: res.status };
      }
      if (!res.ok) {
        await res.body?.cancel();
        return { kind: 'unreachable' };
      }
      return parseEngineLoad(await res.text(), res.status);
    } catch {
      return { kind: 'unreachable' };
    }
  };
}
