import type { EngineOutcome, RetryReason } from './outcome.ts';
import { closesConnections, type EngineProfile } from './profile.ts';
import { createAssembler, type AssemblerRequest } from './reassemble.ts';
import { createResponsesAssembler } from './reassemble-responses.ts';
import { readSse } from './sse.ts';
import { expectedChoices, RESPONSES, STREAMED, unstreamableField } from './stream-mode.ts';
import type { Watchdog, Watched } from './watchdog.ts';

/** What one engine call needs of its client. */
export interface CallContext {
  baseUrl: string;
  watchdog: Watchdog;
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  stallTimeoutMs: number;
  headers: Record<string, string>;
  fetch: typeof fetch;
  /** The engine the body is reassembled for. */
  profile: EngineProfile;
  /** Whether each request goes on a connection of its own (the engine closes them after each response), and pooled connections found dead. */
  connections: { fresh: boolean; resets: number; since: number };
  /** Called the first time a reused connection turned out dead: from then on every request gets a fresh one. */
  onFreshConnections?: (why: string) => void;
  /** Whether the engine can be reached (judged by the client: a slow /health under load is not down). */
  reachable: () => Promise<boolean>;
}

/** Makes a retry outcome. */
type Retry = (
  reason: RetryReason,
  message: string,
  statusCode?: number | null,
  retryAfterMs?: number | null,
  body?: string,
) => EngineOutcome;

/** Where a call is, for what its deadline means when it passes. */
type Phase = 'connect' | 'queued' | 'answer' | 'first_token' | 'stream' | 'body';

/** Resends at once, on a fresh connection and without using an attempt, of a request whose connection died before any byte of answer. */
const MAX_RESENDS = 3;

const ABORT_MESSAGE =
  'the engine aborted the request (finish_reason "abort", or a choice never finished: it was shutting down, pausing or going to sleep), so its output was cut short';

/**
 * Runs one request: streamed (and reassembled) for chat, completions and responses unless vLLM
 * cannot stream what the request asks; plain otherwise. Sends `requestId` as X-Request-Id, which
 * vLLM adopts as the request's id (entrypoints/openai/engine/serving.py, _base_request_id).
 * `onFirstEvent` is called once, when the engine starts answering (a stream's first event, or
 * the answer of a call that does not stream): until then the request waits in the engine's queue.
 */
export async function callEngine(
  ctx: CallContext,
  endpoint: string,
  bodyText: string,
  signal?: AbortSignal,
  requestId?: string,
  onFirstEvent?: () => void,
): Promise<EngineOutcome> {
  const responses = endpoint === RESPONSES;
  const kind = STREAMED[endpoint];
  let payload = bodyText;
  let streamed = false;
  let shape: AssemblerRequest = {};
  if (kind || responses) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(bodyText) as Record<string, unknown>;
    } catch {
      const error = {
        message: 'The request body is not valid JSON; fix the input line and submit it again.',
        type: 'BadRequestError',
        param: null,
        code: 400,
      };
      return { kind: 'rejected', statusCode: 400, body: JSON.stringify({ error }) };
    }
    shape = { tool_choice: parsed.tool_choice, choices: expectedChoices(parsed) };
    streamed = responses || unstreamableField(parsed) === null;
    if (streamed) {
      parsed.stream = true;
      // ResponsesRequest has no stream_options: its usage always rides on response.completed.
      if (!responses) parsed.stream_options = { ...(parsed.stream_options as object | undefined), include_usage: true };
      payload = JSON.stringify(parsed);
    }
  }
  if (signal?.aborted) return { kind: 'aborted' };
  const headers = requestId ? { ...ctx.headers, 'x-request-id': requestId } : ctx.headers;
  const controller = new AbortController();
  let expired: Phase | null = null;
  const sentAt = performance.now();
  // Until the engine starts answering, the request may be queued inside it: vLLM queues after
  // sending a stream's headers, llama-server before them (it answers only once a slot has made
  // the first token: server-context.cpp handle_completions_impl waits for `rd.next()`), and any
  // engine sends a non-streamed answer whole. So from sending to the first event (or the whole
  // answer) the bound is the first-token timeout, never the connect timeout; past the connect
  // timeout without headers the engine's reachability is checked once, so an engine that is gone
  // without refusing the connection is still found within it.
  let phase: Phase = streamed ? 'connect' : 'answer';
  let unwatch = () => {};
  const watched: Watched = {
    deadline: sentAt + (streamed ? Math.min(ctx.connectTimeoutMs, ctx.firstTokenTimeoutMs) : ctx.firstTokenTimeoutMs),
    extendMs: ctx.stallTimeoutMs,
    onExpire: () => {
      const now = performance.now();
      if (phase === 'connect' && now - sentAt < ctx.firstTokenTimeoutMs) {
        phase = 'queued';
        watched.deadline = sentAt + ctx.firstTokenTimeoutMs;
        unwatch = ctx.watchdog.watch(watched);
        void ctx.reachable().then((up) => {
          if (up || phase !== 'queued') return;
          expired = 'connect';
          controller.abort();
        });
        return;
      }
      if (phase === 'connect') phase = 'queued';
      // Not started while the engine keeps serving others: it is queued there, not failed.
      // Only an engine that delivered nothing for a whole stall timeout has stopped.
      // Bounded all the same: a request an engine or a proxy lost while it serves others would
      // otherwise hold its slot and lease for ever.
      if (
        WAITING.has(phase) &&
        now - ctx.watchdog.lastActivityAt() < ctx.stallTimeoutMs &&
        now - sentAt < ctx.firstTokenTimeoutMs * QUEUED_LIMIT
      ) {
        watched.deadline = now + ctx.stallTimeoutMs;
        unwatch = ctx.watchdog.watch(watched);
        return;
      }
      expired = phase;
      controller.abort();
    },
  };
  unwatch = ctx.watchdog.watch(watched);
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const retry: Retry = (reason, message, statusCode = null, retryAfterMs = null, body) => ({
    kind: 'retry',
    reason,
    statusCode,
    message,
    retryAfterMs,
    ...(body === undefined ? {} : { body }),
  });
  // Only a connection that delivered a whole answer goes back to the pool: one left after an
  // error, a broken or an unfinished stream may be dead or still generating, and reusing it
  // fails the next request with a reset that the engine never caused.
  let clean = false;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    onFirstEvent?.();
  };
  try {
    const res = await send(ctx, `${ctx.baseUrl}${endpoint}`, headers, payload, controller.signal);
    if ((phase as Phase) === 'connect' || (phase as Phase) === 'queued') phase = 'first_token';
    const headerId = res.headers.get('x-request-id');
    if (res.status === 401 || res.status === 403) {
      const text = (await res.text()).slice(0, 300);
      return {
        kind: 'unauthorized',
        statusCode: res.status === 401 ? 401 : 403,
        message: `the engine refused the fleet's credentials: POST ${endpoint} answered ${res.status} ${text}; it was started with --api-key: set ENGINE_API_KEY to that key`,
      };
    }
    if (!res.ok) {
      const text = await res.text();
      if (res.status === 429 || res.status === 408 || res.status >= 500) {
        const retryAfter = Number(res.headers.get('retry-after'));
        const reason = res.status === 429 ? 'rate_limited' : 'server_error';
        return retry(
          reason,
          `the engine answered ${res.status}: ${text.slice(0, 300)}`,
          res.status,
          retryAfter > 0 ? retryAfter * 1000 : null,
          text,
        );
      }
      return { kind: 'rejected', statusCode: res.status, body: text };
    }
    const contentType = res.headers.get('content-type') ?? '';
    if (!streamed || !contentType.includes('text/event-stream')) {
      phase = 'body';
      start();
      watched.deadline = performance.now() + ctx.stallTimeoutMs;
      // A body the engine did not mean as JSON (embeddings with encoding_format "bytes" are
      // application/octet-stream, pooling/utils.py) is an answer, not a fault: retrying it
      // gets the same bytes, and no result line can hold them.
      if (contentType && !/json/i.test(contentType)) {
        return {
          kind: 'failed',
          code: 'engine_response_not_json',
          message: `The engine answered ${res.status} with ${contentType.split(';')[0]}, not JSON, so there is no result to store. For embeddings, encoding_format "bytes" and "bytes_only" return raw bytes: use "float" or "base64".`,
        };
      }
      const text = await res.text();
      const body = JSON.parse(text) as unknown;
      if (!isObject(body)) return retry('server_error', `the engine answered ${res.status} with JSON that is not an object`);
      if (abortedBody(body)) return retry('engine_abort', ABORT_MESSAGE);
      clean = true;
      ctx.watchdog.touch();
      return { ...ok(res.status, body, headerId, requestId), text };
    }
    phase = 'first_token';
    watched.deadline = Math.max(watched.deadline, sentAt + ctx.firstTokenTimeoutMs);
    if (responses)
      return await readResponses(
        res,
        headerId,
        requestId,
        start,
        () => {
          phase = 'stream';
          watched.active = true;
        },
        retry,
        () => (clean = true),
      );
    const assembler = createAssembler(kind ?? 'chat', shape, ctx.profile);
    let finished = false;
    let streamError: string | null = null;
    /** Whether the engine had sent chunks of the request (vLLM sends its first with the first token). */
    let generating = false;
    await readSse(res.body as ReadableStream<Uint8Array>, {
      onActivity() {
        if (!started) start();
        phase = 'stream';
        watched.active = true;
      },
      onEvents(data) {
        let json = '';
        for (const d of data) {
          if (d === '[DONE]') finished = true;
          // vLLM's error event, kept as it came: json.dumps(ErrorResponse.model_dump()) (engine/serving.py, create_streaming_error_response).
          else if (d.startsWith('{"error"')) streamError ??= d;
          else json += json ? `,${d}` : d;
        }
        if (!json) return;
        // One parse for the whole batch: far cheaper than a JSON.parse per token.
        for (const chunk of JSON.parse(`[${json}]`) as Record<string, unknown>[]) {
          if (chunk.error || chunk.object === 'error') streamError ??= JSON.stringify(chunk);
          else {
            assembler.push(chunk);
            generating = true;
          }
        }
      },
    });
    if (streamError) return midStreamError(streamError, retry, generating);
    if (!finished) return retry('incomplete', 'the stream ended before [DONE]');
    if (assembler.aborted()) return retry('engine_abort', ABORT_MESSAGE);
    clean = true;
    return ok(res.status, assembler.result(), headerId, requestId);
  } catch (error) {
    if (signal?.aborted) return { kind: 'aborted' };
    if (expired === 'connect') return retry('connect_timeout', `no response headers within ${ctx.connectTimeoutMs} ms`);
    if (expired === 'answer') {
      return retry(
        'first_token_timeout',
        `no answer within ${ctx.firstTokenTimeoutMs} ms (the call does not stream: the engine answers once the whole result is ready)`,
      );
    }
    if (expired === 'first_token' || expired === 'queued') {
      return retry(
        'first_token_timeout',
        `no first token within ${ctx.firstTokenTimeoutMs} ms, and the engine delivered nothing to any request for ${ctx.stallTimeoutMs} ms`,
      );
    }
    if (expired === 'stream') return retry('stalled', `the stream stalled for ${ctx.stallTimeoutMs} ms`);
    if (expired === 'body') return retry('stalled', `the response body stalled for ${ctx.stallTimeoutMs} ms`);
    if (error instanceof SyntaxError) return retry('server_error', `the engine sent a body that is not JSON: ${error.message}`);
    if (phase === 'body') return retry('incomplete', `the response broke off: ${describe(error)}`);
    if (phase !== 'connect' && (phase as Phase) !== 'queued' && phase !== 'answer')
      return retry('incomplete', `the stream broke: ${describe(error)}`);
    // A reset before the headers is an engine that took the request and dropped it (a stream
    // that fails before its first token does that), not one that is out of reach.
    const detail = describe(error);
    return retry(
      'connection',
      `${unreachable(error) ? 'could not reach the engine' : 'the engine closed the connection before it answered'}: ${detail}`,
    );
  } finally {
    if (!clean) controller.abort();
    unwatch();
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Reads a streamed /v1/responses call: its body is response.completed's `response`, as vLLM
 * wrote it (reassemble-responses.ts). A stream that ends without it broke (an exception other
 * than GenerationError escapes vLLM's SSE generator, responses/serving.py:1547, and the
 * connection closes). `status: "cancelled"` is vLLM's abort on the harmony path (serving.py:811);
 * on the plain path an engine abort still says "completed" (serving.py:797, the catch-all), which
 * no client can tell from a short answer.
 */
async function readResponses(
  res: Response,
  headerId: string | null,
  requestId: string | undefined,
  start: () => void,
  onActivity: () => void,
  retry: Retry,
  done: () => void,
): Promise<EngineOutcome> {
  const assembler = createResponsesAssembler();
  await readSse(res.body as ReadableStream<Uint8Array>, {
    onActivity() {
      start();
      onActivity();
    },
    onEvents(data) {
      for (const d of data) assembler.push(d);
    },
  });
  const error = assembler.error();
  // Its events (response.created, in_progress) come before any generation: an error is not judged as a generated one.
  if (error) return midStreamError(error, retry, false);
  const final = assembler.result();
  if (!final) return retry('incomplete', 'the stream ended before response.completed');
  if (final.body.status === 'cancelled') return retry('engine_abort', ABORT_MESSAGE);
  done();
  return { ...ok(res.status, final.body, headerId, requestId), text: final.text };
}

function ok(
  statusCode: number,
  body: Record<string, unknown>,
  headerId: string | null,
  sentId: string | undefined,
): Extract<EngineOutcome, { kind: 'ok' }> {
  // A response object counts input_tokens and output_tokens (responses/protocol.py:93 ResponseUsage).
  const raw = (body.usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number; input_tokens?: number; output_tokens?: number };
  const usage = { prompt_tokens: raw.prompt_tokens ?? raw.input_tokens, completion_tokens: raw.completion_tokens ?? raw.output_tokens };
  // The body's id is vLLM's own name for the request (`chatcmpl-`, `cmpl-` or `embd-` + the
  // X-Request-Id sent), the one its logs use; the header comes only with --enable-request-id-headers.
  const requestId = (typeof body.id === 'string' ? body.id : null) ?? headerId ?? sentId ?? null;
  return {
    kind: 'ok',
    statusCode,
    body,
    requestId,
    promptTokens: usage.prompt_tokens ?? 0,
    completionTokens: usage.completion_tokens ?? 0,
  };
}

/**
 * An error event after the 200: vLLM raises the engine's own validation errors (logprobs over
 * --max-logprobs, a prompt longer than the model in tokens, LoRA not enabled) inside the
 * stream, where `create_error_response` maps them to a 4xx `code` (entrypoints/utils.py). A
 * 4xx is the request's fault, as a 4xx status would be; anything else (EngineDeadError, a
 * generation error: 500) may pass on a retry.
 */
/**
 * An error event inside a stream: a 4xx is the request's own fault; anything else is retried,
 * marked `started` when the engine had already sent chunks of the request (vLLM sends its
 * first chunk with the first token), so that the same error after a generation twice in a row
 * is not regenerated again.
 */
function midStreamError(raw: string, retry: Retry, generated: boolean): EngineOutcome {
  let code = Number.NaN;
  try {
    const parsed = JSON.parse(raw) as { code?: unknown; error?: { code?: unknown } };
    code = Number(parsed.error?.code ?? parsed.code);
  } catch {
    // not JSON: a retry below
  }
  if (code >= 400 && code < 500) return { kind: 'rejected', statusCode: code, body: raw };
  const outcome = retry(
    'server_error',
    `the engine reported an error mid-stream: ${raw.slice(0, 300)}`,
    code >= 500 && code < 600 ? code : 500,
    null,
    raw,
  );
  return generated ? ({ ...outcome, started: true } as EngineOutcome) : outcome;
}

/**
 * A non-streamed body of a request the engine aborted: a choice with finish_reason "abort"
 * (chat and completions build their body from whatever the request had), or an empty vector
 * (an aborted pooling request ends with an empty tensor, v1/engine/output_processor.py
 * abort_requests, which embeddings encode as `[]` or "").
 */
function abortedBody(body: Record<string, unknown>): boolean {
  if (Array.isArray(body.choices)) return body.choices.some((c: { finish_reason?: unknown }) => c?.finish_reason === 'abort');
  // The harmony path's abort (responses/serving.py:811).
  if (body.object === 'response') return body.status === 'cancelled';
  if (Array.isArray(body.data))
    return body.data.some(
      (d: { embedding?: unknown }) => (Array.isArray(d?.embedding) || typeof d?.embedding === 'string') && d.embedding.length === 0,
    );
  return false;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The phases in which a request waits for the engine to start it. */
const WAITING: ReadonlySet<Phase> = new Set(['queued', 'answer', 'first_token']);

/**
 * Sends the request. A connection that dies before any byte of answer, when it may have been a
 * pooled one, is retried at once on a fresh connection (up to MAX_RESENDS times): the engine
 * closed it after its last response (llama-server does after every stream while advertising
 * Keep-Alive), so the request never reached it. After a few, or for an engine known to close
 * them, every request goes on a connection of its own: `keepalive: false` for Bun's fetch
 * (src/bun.js/webcore/fetch.zig, disable_keepalive), `connection: close` for undici's.
 */
async function send(ctx: CallContext, url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Response> {
  for (let resends = 0; ; resends++) {
    const fresh = ctx.connections.fresh;
    try {
      const init: RequestInit = fresh
        ? { method: 'POST', headers: { ...headers, connection: 'close' }, body, signal, keepalive: false }
        : { method: 'POST', headers, body, signal };
      return await ctx.fetch(url, init);
    } catch (error) {
      // Even a request sent with `connection: close` may go out on an idle pooled socket (undici
      // picks one before it reads the header), so a fresh-connection engine is resent too.
      if (signal.aborted || resends >= MAX_RESENDS || unreachable(error)) throw error;
      const connections = ctx.connections;
      // Counted within a window: a rare race with an idle timeout, a few a day, is not an engine that closes them.
      const now = performance.now();
      if (now - connections.since > RESET_WINDOW_MS) {
        connections.resets = 0;
        connections.since = now;
      }
      if (!fresh && (++connections.resets >= FRESH_AFTER_RESETS || closesConnections(ctx.profile))) {
        ctx.connections.fresh = true;
        ctx.onFreshConnections?.(
          `${ctx.connections.resets} requests found their pooled connection closed before any byte of answer (${describe(error)})`,
        );
      }
    }
  }
}

/** How many first-token timeouts a request may wait, queued, while the engine serves others, before it counts as lost. */
const QUEUED_LIMIT = 4;

/** Resets of pooled connections, within {@link RESET_WINDOW_MS}, after which the engine is taken to close its connections. */
const FRESH_AFTER_RESETS = 3;
const RESET_WINDOW_MS = 60_000;

/** Whether a fetch error means the engine was never reached (refused, no route, no such host). */
export function unreachable(error: unknown): boolean {
  // Deno names no code: its message says `tcp connect error: Connection refused`.
  return UNREACHABLE.has(errorCode(error) ?? '') || /connect error|connection refused|unable to connect/i.test(describe(error));
}

/** Connection errors that mean the engine was never reached (nothing listens, no route, no such host). */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ConnectionRefused',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'FailedToOpenSocket',
]);

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code;
}

function describe(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  return [errorCode(error), e.message, e.cause?.message].filter(Boolean).join(': ') || String(error);
}
