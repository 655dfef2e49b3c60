import { callEngine } from './call.ts';
import type { EngineOutcome } from './outcome.ts';
import type { Watchdog } from './watchdog.ts';

/** Options for {@link createEngineClient}. */
export interface EngineClientOptions {
  /** The engine's base URL, with or without a trailing `/v1`. */
  baseUrl: string;
  watchdog: Watchdog;
  /** Until a stream's response headers arrive. */
  connectTimeoutMs: number;
  /** From the headers until the first event of a stream; from the request until the answer of a call that does not stream. */
  firstTokenTimeoutMs: number;
  /** The longest silence between two events of a stream. */
  stallTimeoutMs: number;
  apiKey?: string | undefined;
  fetch?: typeof fetch;
}

/** Engine load as vLLM reports it on /metrics. */
export interface EngineLoad {
  running: number;
  waiting: number;
}

/** Talks to one vLLM-compatible engine. */
export interface EngineClient {
  readonly baseUrl: string;
  /**
   * Runs one request: streamed (and reassembled) for chat and completions unless vLLM cannot
   * stream what it asks, plain otherwise. `requestId` is sent as X-Request-Id.
   */
  call(endpoint: string, body: string, signal?: AbortSignal, requestId?: string): Promise<EngineOutcome>;
  health(timeoutMs?: number): Promise<boolean>;
  /** The served model names, from /v1/models. */
  models(): Promise<string[]>;
  /** Running and waiting requests from /metrics; null when the engine exposes none. */
  load(): Promise<EngineLoad | null>;
}

/** Creates the engine client. */
export function createEngineClient(options: EngineClientOptions): EngineClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const { watchdog, connectTimeoutMs, firstTokenTimeoutMs, stallTimeoutMs } = options;
  const context = { baseUrl, watchdog, connectTimeoutMs, firstTokenTimeoutMs, stallTimeoutMs, headers, fetch: doFetch };

  const get = async (path: string, timeoutMs: number) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await doFetch(`${baseUrl}${path}`, { signal: controller.signal, headers });
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    baseUrl,
    call: (endpoint, body, signal, requestId) => callEngine(context, endpoint, body, signal, requestId),
    async health(timeoutMs = 2000) {
      try {
        const res = await get('/health', timeoutMs);
        await res.body?.cancel();
        return res.ok;
      } catch {
        return false;
      }
    },
    async models() {
      const res = await get('/v1/models', 5000);
      if (res.status === 401 || res.status === 403) throw new Error(`GET ${baseUrl}/v1/models answered ${res.status}: the engine was started with --api-key; set ENGINE_API_KEY to that key`);
      if (!res.ok) throw new Error(`GET ${baseUrl}/v1/models answered ${res.status}`);
      const json = (await res.json()) as { data?: { id: string }[] };
      return (json.data ?? []).map((m) => m.id);
    },
    async load() {
      try {
        const res = await get('/metrics', 2000);
        if (!res.ok) return null;
        return parseLoad(await res.text());
      } catch {
        return null;
      }
    },
  };
}

/** Sums `vllm:num_requests_running` and `vllm:num_requests_waiting` over their label sets. */
export function parseLoad(text: string): EngineLoad | null {
  let running: number | null = null;
  let waiting = 0;
  for (const line of text.split('\n')) {
    const match = /^vllm:num_requests_(running|waiting)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (match[1] === 'running') running = (running ?? 0) + value;
    else waiting += value;
  }
  return running === null ? null : { running, waiting };
}
