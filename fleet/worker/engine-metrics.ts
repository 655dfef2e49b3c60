/** What one read of the engine's /metrics showed. */
export type LoadReading =
  /** vLLM's scheduler gauges, summed over the engine's data-parallel ranks (label `engine`). */
  | { kind: 'load'; running: number; waiting: number; /** `vllm:kv_cache_usage_perc` (1 = full), the fullest rank's; null when absent. */ kvCacheUsage: number | null }
  /** /metrics answered, but without vLLM's scheduler gauges (`--disable-log-stats`), or it is not served at all (404). */
  | { kind: 'no_gauges'; status: number }
  /** No answer (the engine is down or busy): says nothing about its gauges. */
  | { kind: 'unreachable' };

/** Reads the engine's /metrics. */
export type ReadLoad = () => Promise<LoadReading>;

const GAUGE = /^vllm:(num_requests_running|num_requests_waiting|kv_cache_usage_perc)(?:\{[^}]*\})?\s+(\S+)/;

/**
 * Parses vLLM's Prometheus text. vLLM labels each gauge with `model_name` and `engine` (one
 * series per data-parallel rank: vllm/v1/metrics/loggers.py, create_metric_per_engine), so the
 * counts are summed; cache usage is the fullest rank's.
 */
export function parseEngineLoad(text: string, status = 200): LoadReading {
  let running: number | null = null;
  let waiting = 0;
  let kvCacheUsage: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('vllm:')) continue;
    const match = GAUGE.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isFinite(value)) continue;
    if (match[1] === 'num_requests_running') running = (running ?? 0) + value;
    else if (match[1] === 'num_requests_waiting') waiting += value;
    else kvCacheUsage = Math.max(kvCacheUsage ?? 0, value);
  }
  return running === null ? { kind: 'no_gauges', status } : { kind: 'load', running, waiting, kvCacheUsage };
}

/** Options for {@link createLoadReader}. */
export interface LoadReaderOptions {
  /** The engine's base URL, without `/v1`. */
  baseUrl: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * A reader of the engine's /metrics. vLLM serves /metrics without the API key (only `/v1` is
 * behind `--api-key`), so none is sent.
 */
export function createLoadReader({ baseUrl, timeoutMs = 2000, fetch: doFetch = fetch }: LoadReaderOptions): ReadLoad {
  return async () => {
    try {
      const res = await doFetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status === 404 || res.status === 405) {
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
