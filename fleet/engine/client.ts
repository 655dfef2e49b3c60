import type { EngineOutcome, RetryReason } from './outcome.ts';
import { createAssembler } from './reassemble.ts';
import { readSse } from './sse.ts';
import type { Watchdog, Watched } from './watchdog.ts';

/** Options for {@link createEngineClient}. */
export interface EngineClientOptions {
  /** The engine's base URL, with or without a trailing `/v1`. */
  baseUrl: string;
  watchdog: Watchdog;
  /** Until the response headers arrive. */
  connectTimeoutMs: number;
  /** From the headers until the first event of a stream. */
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
  /** Runs one request: streamed (and reassembled) for chat and completions, plain otherwise. */
  call(endpoint: string, body: string, signal?: AbortSignal): Promise<EngineOutcome>;
  health(timeoutMs?: number): Promise<boolean>;
  /** The served model names, from /v1/models. */
  models(): Promise<string[]>;
  /** Running and waiting requests from /metrics; null when the engine exposes none. */
  load(): Promise<EngineLoad | null>;
}

const STREAMED: Record<string, 'chat' | 'completion'> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
};

/** Creates the engine client. */
export function createEngineClient(options: EngineClientOptions): EngineClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

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
    call: (endpoint, body, signal) => callEngine(options, doFetch, baseUrl, headers, endpoint, body, signal),
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

async function callEngine(
  options: EngineClientOptions,
  doFetch: typeof fetch,
  baseUrl: string,
  headers: Record<string, string>,
  endpoint: string,
  bodyText: string,
  signal: AbortSignal | undefined,
): Promise<EngineOutcome> {
  const kind = STREAMED[endpoint];
  let payload = bodyText;
  if (kind) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(bodyText) as Record<string, unknown>;
    } catch {
      const error = { message: 'The request body is not valid JSON; fix the input line and submit it again.', type: 'BadRequestError', param: null, code: 400 };
      return { kind: 'rejected', statusCode: 400, body: JSON.stringify({ error }) };
    }
    parsed.stream = true;
    parsed.stream_options = { ...(parsed.stream_options as object | undefined), include_usage: true };
    payload = JSON.stringify(parsed);
  }
  if (signal?.aborted) return { kind: 'aborted' };
  const controller = new AbortController();
  let expired: RetryReason | null = null;
  let phase: RetryReason = 'connect_timeout';
  const watched: Watched = {
    deadline: performance.now() + options.connectTimeoutMs,
    extendMs: options.stallTimeoutMs,
    onExpire: () => {
      expired = phase;
      controller.abort();
    },
  };
  const unwatch = options.watchdog.watch(watched);
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const retry = (reason: RetryReason, message: string, statusCode: number | null = null, retryAfterMs: number | null = null): EngineOutcome => ({
    kind: 'retry',
    reason,
    statusCode,
    message,
    retryAfterMs,
  });
  // Only a connection that delivered a whole answer goes back to the pool: one left after an
  // error, a broken or an unfinished stream may be dead or still generating, and reusing it
  // fails the next request with a reset that the engine never caused.
  let clean = false;
  try {
    const res = await doFetch(`${baseUrl}${endpoint}`, { method: 'POST', headers, body: payload, signal: controller.signal });
    const requestId = res.headers.get('x-request-id');
    if (!res.ok) {
      const text = await res.text();
      if (res.status === 429 || res.status === 408 || res.status >= 500) {
        const retryAfter = Number(res.headers.get('retry-after'));
        const reason = res.status === 429 ? 'rate_limited' : 'server_error';
        return retry(reason, `the engine answered ${res.status}: ${text.slice(0, 300)}`, res.status, retryAfter > 0 ? retryAfter * 1000 : null);
      }
      return { kind: 'rejected', statusCode: res.status, body: text };
    }
    if (!kind || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const body = JSON.parse(await res.text()) as Record<string, unknown>;
      const usage = (body.usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number };
      clean = true;
      return { kind: 'ok', statusCode: res.status, body, requestId, promptTokens: usage.prompt_tokens ?? 0, completionTokens: usage.completion_tokens ?? 0 };
    }
    phase = 'first_token_timeout';
    watched.deadline = performance.now() + options.firstTokenTimeoutMs;
    const assembler = createAssembler(kind);
    let finished = false;
    let streamError: string | null = null;
    await readSse(res.body as ReadableStream<Uint8Array>, {
      onActivity() {
        phase = 'stalled';
        watched.active = true;
      },
      onEvents(data) {
        let json = '';
        for (const d of data) {
          if (d === '[DONE]') finished = true;
          else json += json ? `,${d}` : d;
        }
        if (!json) return;
        // One parse for the whole batch: far cheaper than a JSON.parse per token.
        for (const chunk of JSON.parse(`[${json}]`) as Record<string, unknown>[]) {
          if (chunk.error || chunk.object === 'error') streamError = JSON.stringify(chunk.error ?? chunk).slice(0, 300);
          else assembler.push(chunk);
        }
      },
    });
    if (streamError) return retry('server_error', `the engine reported an error mid-stream: ${streamError}`, 500);
    if (!finished) return retry('incomplete', 'the stream ended before [DONE]');
    const body = assembler.result();
    const usage = body.usage as { prompt_tokens?: number; completion_tokens?: number };
    clean = true;
    return {
      kind: 'ok',
      statusCode: res.status,
      body,
      requestId: requestId ?? (body.id as string | null) ?? null,
      promptTokens: usage.prompt_tokens ?? 0,
      completionTokens: usage.completion_tokens ?? 0,
    };
  } catch (error) {
    if (signal?.aborted) return { kind: 'aborted' };
    if (expired === 'connect_timeout') return retry(expired, `no response headers within ${options.connectTimeoutMs} ms`);
    if (expired === 'first_token_timeout') return retry(expired, `no first token within ${options.firstTokenTimeoutMs} ms`);
    if (expired === 'stalled') return retry(expired, `the stream stalled for ${options.stallTimeoutMs} ms`);
    if (error instanceof SyntaxError) return retry('server_error', `the engine sent a body that is not JSON: ${error.message}`);
    if (phase !== 'connect_timeout') return retry('incomplete', `the stream broke: ${describe(error)}`);
    // A reset before the headers is an engine that took the request and dropped it (a stream
    // that fails before its first token does that), not one that is out of reach.
    const detail = describe(error);
    // Deno names no code: its message says `tcp connect error: Connection refused`.
    const unreachable = UNREACHABLE.has(errorCode(error) ?? '') || /connect error|connection refused|unable to connect/i.test(detail);
    return retry('connection', `${unreachable ? 'could not reach the engine' : 'the engine closed the connection before it answered'}: ${detail}`);
  } finally {
    if (!clean) controller.abort();
    unwatch();
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Connection errors that mean the engine was never reached (nothing listens, no route, no such host). */
const UNREACHABLE: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ConnectionRefused', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'FailedToOpenSocket']);

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code;
}

function describe(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return [errorCode(error), e.message, e.cause?.message].filter(Boolean).join(': ') || String(error);
}
