/** The engine whose HTTP surface the simulator plays; the scheduler and timing are the same for all. */
export type SimProfile = 'vllm' | 'llamacpp' | 'sglang' | 'bare';
export const SIM_PROFILES: readonly SimProfile[] = ['vllm', 'llamacpp', 'sglang', 'bare'];

/** How the simulator behaves: its sizes (vLLM's names), its timings and the faults it injects. */
export interface SimOptions {
  /** Which engine it answers as (--profile): vLLM by default, llama.cpp's llama-server, SGLang, or a bare proxy without /metrics. */
  profile: SimProfile;
  /** /metrics on (llama-server --metrics, SGLang --enable-metrics); vLLM always serves it. */
  metrics: boolean;
  /** llama-server only: answers 503 "Loading model" to everything for this long after start. */
  loadMs: number;
  /** The served model names (--served-model-name); requests naming another model get vLLM's 404. */
  models: string[];
  /** The model's source path (`serve SOURCE`): the cards' `root`; null means the first served name. */
  source: string | null;
  /** Sequence slots (vLLM's max_num_seqs): how many requests run at once. */
  slots: number;
  /** The per-step token budget (max_num_batched_tokens): prompt chunks and decode tokens share it. */
  maxNumBatchedTokens: number;
  /** KV-cache capacity in tokens (--num-gpu-blocks-override x block size); 0 means slots x maxModelLen. */
  kvCacheTokens: number;
  blockSize: number;
  /** Prompt plus output limit (--max-model-len); longer requests get vLLM's 400. */
  maxModelLen: number;
  /** Minimum time from arrival to the first token. */
  ttftMs: number;
  /** Time per output token: the length of one scheduler step. */
  tpotMs: number;
  /** Mean output length; each request's length is drawn from its body, capped by max_tokens. */
  outputTokens: number;
  embeddingDim: number;
  /** /metrics without vLLM's gauges, as `vllm serve --disable-log-stats`. */
  disableLogStats: boolean;
  /** Bearer tokens /v1/* requires (--api-key); empty means open. */
  apiKey: string[];
  /** Sends `X-Request-Id` on responses (--enable-request-id-headers). */
  enableRequestIdHeaders: boolean;
  /** Set (any name) for a reasoning model: chat replies start with `reasoning`. */
  reasoningParser: string | null;
  /** Most logprobs a request may ask for (--max-logprobs). */
  maxLogprobs: number;
  /** Fractions of generation requests that fail in each way (0..1). */
  errorRate: number;
  /** 429s: not vLLM (it sends none) but a rate-limiting proxy in front of it. */
  rateLimitRate: number;
  hangRate: number;
  disconnectRate: number;
  stallRate: number;
  /** Fraction of requests answered with garbage: a 200 of truncated JSON or of SSE events that are not JSON, or a 502 of binary junk. */
  garbageRate: number;
  /** Fraction of streams the engine aborts midway: they end normally with finish_reason "abort". */
  abortRate: number;
  /**
   * Fraction of requests whose output fails llama-server's chat parser (a 500 "Failed to parse input
   * at pos N"), chosen by the request's body, so every retry of the same request fails the same way.
   */
  formatErrorRate: number;
  /** The process crashes when this many generation requests have arrived (0 = never). */
  crashAfter: number;
  /** Seed of the fault dice (replies do not depend on it). */
  seed: number;
}

/**
 * Defaults: vLLM's API-server defaults on a GPU under 70 GB (vllm/engine/arg_utils.py
 * get_batch_defaults: 256 seqs, 2,048 batched tokens), max_logprobs 20, blocks of 16.
 */
export const SIM_DEFAULTS: SimOptions = {
  profile: 'vllm',
  metrics: false,
  loadMs: 0,
  models: ['sim-model'],
  source: null,
  slots: 256,
  maxNumBatchedTokens: 2048,
  kvCacheTokens: 0,
  blockSize: 16,
  maxModelLen: 8192,
  ttftMs: 40,
  tpotMs: 8,
  outputTokens: 100,
  embeddingDim: 32,
  disableLogStats: false,
  apiKey: [],
  enableRequestIdHeaders: false,
  reasoningParser: null,
  maxLogprobs: 20,
  errorRate: 0,
  rateLimitRate: 0,
  hangRate: 0,
  disconnectRate: 0,
  stallRate: 0,
  garbageRate: 0,
  abortRate: 0,
  formatErrorRate: 0,
  crashAfter: 0,
  seed: 1,
};
