import type { RequestResult } from '../../schema/index.ts';
import { backoffMs, sleep, type BackoffOptions } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { EngineOutcome, RetryReason } from '../engine/outcome.ts';

/** A leased request ready to run: the body, the endpoint its batch names, and the range it was leased with. */
export interface Job {
  /** requests.id: the worker's handle on the request while it is held. */
  id: number;
  /** The range lease it came with: heartbeats, releases and the result's write name the range. */
  rangeId: number;
  batchId: string;
  line: number;
  model: string;
  endpoint: string;
  body: string;
}

/** What {@link runRequest} needs. */
export interface RunRequestContext {
  client: EngineClient;
  gate: EngineGate;
  /** Retries after the first failed call (5xx, 429, resets, stalls); then the request fails. */
  maxRetries: number;
  /**
   * Times the engine may go down (unreachable, /health failing) under this request before it
   * fails: a request that crashes the engine each time must not crash it forever. Default 5.
   */
  maxEngineDowns?: number;
  backoff: BackoffOptions;
  onEngineError?: (outcome: Extract<EngineOutcome, { kind: 'retry' | 'rejected' | 'unauthorized' | 'failed' }>) => void;
  /**
   * Called on each call of a job when the engine starts answering it (a stream's first event, a
   * whole non-streamed answer): until then the job waits in the engine's queue.
   */
  onFirstByte?: (job: Job) => void;
  /** Called as each call of a job starts (true) and ends (false): between calls it waits in backoff or at the gate, not at the engine. */
  onCall?: (job: Job, atEngine: boolean) => void;
}

/**
 * Runs one request to its end: success, a 4xx (the engine's error body is kept as the
 * response), or a clear error after `maxRetries` retries with backoff. A call that broke
 * while /health fails too waits at the gate and is not counted as a retry: the engine is
 * restarting, the request is probably not at fault (but see `maxEngineDowns`). Returns null when aborted
 * (cancellation, drain, a lost lease): nothing is to be written then. Returns
 * `model_missing` when the engine says it does not serve the request's model (it was
 * restarted with another): the request is not at fault and must go back to the queue.
 * Returns `engine_unauthorized` when the engine refuses the fleet's API key (401/403): no
 * request can run until the key is fixed, and this one must go back without losing an attempt.
 */
export async function runRequest(
  ctx: RunRequestContext,
  job: Job,
  signal: AbortSignal,
): Promise<RequestResult | 'model_missing' | 'engine_unauthorized' | null> {
  let failures = 0;
  let downs = 0;
  /** When the first call went to the engine: the result's started_at, for per-request timings. */
  let startedAtMs: number | null = null;
  // Stable across retries, so the engine's logs show one id per request (vLLM suffixes its
  // internal id itself, v1/engine/input_processor.py assign_request_id, so a reuse is safe).
  const requestId = `${job.batchId}-${job.id}`;
  const onFirstEvent = ctx.onFirstByte ? () => ctx.onFirstByte?.(job) : undefined;
  /** The engine's last error answer for this request, to stop regenerating one it gives every time. */
  let answered = null as { statusCode: number | null; body: string } | null;
  for (;;) {
    await ctx.gate.ready(signal);
    if (signal.aborted) return null;
    ctx.onCall?.(job, true);
    startedAtMs ??= Date.now();
    const outcome = await ctx.client.call(job.endpoint, job.body, signal, requestId, onFirstEvent);
    ctx.onCall?.(job, false);
    if (outcome.kind === 'aborted') return null;
    if (outcome.kind === 'ok') {
      return {
        ...resultOf(job, startedAtMs),
        status: 'succeeded',
        statusCode: outcome.statusCode,
        response: outcome.text ?? JSON.stringify(outcome.body),
        engineRequestId: outcome.requestId,
        error: null,
        promptTokens: outcome.promptTokens,
        completionTokens: outcome.completionTokens,
      };
    }
    ctx.onEngineError?.(outcome);
    if (outcome.kind === 'unauthorized') return 'engine_unauthorized';
    if (outcome.kind === 'failed') return failedWith(job, startedAtMs, outcome.code, outcome.message);
    if (outcome.kind === 'rejected' && isModelMissing(outcome.statusCode, outcome.body)) return 'model_missing';
    if (outcome.kind === 'rejected') {
      return {
        ...resultOf(job, startedAtMs),
        status: 'failed',
        statusCode: outcome.statusCode,
        response: asJsonBody(outcome.body, outcome.statusCode),
        engineRequestId: null,
        error: null,
        promptTokens: null,
        completionTokens: null,
      };
    }
    if (!ENGINE_ANSWERED.has(outcome.reason) && !(await ctx.client.reachable())) {
      ctx.gate.reportDown();
      if (++downs > (ctx.maxEngineDowns ?? 5)) {
        return failedWith(
          job,
          startedAtMs,
          'engine_unavailable',
          `The engine went down ${downs} times while running this request (the request may be what brings it down); it is not tried again. The last failure: ${outcome.message}`,
        );
      }
      continue;
    }
    failures++;
    const body = outcome.body;
    // The same error twice in a row, each after the engine had generated for the request, is its
    // verdict on this request (a reply its parser cannot read: llama-server's "Failed to parse
    // input at pos N"), and each retry costs a whole generation. An error before any generation
    // is not judged so: an overloaded engine's transient 500 carries the same generic body each time.
    if (body !== undefined && outcome.started && answered?.statusCode === outcome.statusCode && answered.body === body) {
      const message = `The engine gave the same error twice in a row (${outcome.statusCode ?? 'no status'}), so it was not retried again: it fails this request every time. Its answer is the response.`;
      return answeredWith(job, startedAtMs, outcome.statusCode, body, 'engine_error_repeated', message);
    }
    answered = body === undefined || !outcome.started ? null : { statusCode: outcome.statusCode, body };
    if (failures > ctx.maxRetries) {
      const message = `The engine failed this request ${failures} times (retried with backoff); the last failure: ${outcome.message}`;
      return body === undefined
        ? failedWith(job, startedAtMs, 'engine_error', message)
        : answeredWith(job, startedAtMs, outcome.statusCode, body, 'engine_error', message);
    }
    await sleep(backoffMs(failures - 1, ctx.backoff, outcome.retryAfterMs), signal);
  }
}

/** vLLM's 404 for a model it does not serve: `The model \`x\` does not exist.` */
function isModelMissing(statusCode: number, body: string): boolean {
  return statusCode === 404 && /model/i.test(body) && /does not exist|not found/i.test(body);
}

/** Failures where the engine itself answered: it is up, the request just went wrong. */
const ENGINE_ANSWERED: ReadonlySet<RetryReason> = new Set(['server_error', 'rate_limited']);

/** What a result carries of its job: the request, its range lease, its line, and when it started. */
function resultOf(job: Job, startedAtMs: number | null) {
  return { id: job.id, rangeId: job.rangeId, batchId: job.batchId, line: job.line, startedAtMs };
}

function failedWith(job: Job, startedAtMs: number | null, code: string, message: string): RequestResult {
  // The message may quote an engine's reply, which may hold NUL characters: jsonb refuses them,
  // and one such result would fail every write of the page it is in, forever.
  const stored = message.replace(/\u0000/g, '\uFFFD');
  return {
    ...resultOf(job, startedAtMs),
    status: 'failed',
    statusCode: null,
    response: null,
    engineRequestId: null,
    error: { code, message: stored },
    promptTokens: null,
    completionTokens: null,
  };
}

/** A request that failed on an engine's error answer: its last status and body are the response, the reason the error. */
function answeredWith(
  job: Job,
  startedAtMs: number | null,
  statusCode: number | null,
  body: string,
  code: string,
  message: string,
): RequestResult {
  return {
    ...failedWith(job, startedAtMs, code, message),
    statusCode: statusCode ?? 500,
    response: asJsonBody(body.replace(/\u0000/g, '\uFFFD'), statusCode ?? 500),
  };
}

/** The engine's error body as JSON text (the result file embeds it raw); wrapped when the engine sent something else. */
function asJsonBody(text: string, statusCode: number): string {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') return text;
  } catch {
    // not JSON: wrapped below
  }
  return JSON.stringify({ error: { message: text.slice(0, 2000), type: 'EngineError', param: null, code: statusCode } });
}
