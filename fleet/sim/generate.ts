import { checkInEngine, checkPreparation } from './checks.ts';
import { hashText, planReply, type Plan } from './content.ts';
import type { SimContext } from './context.ts';
import { engineError } from './errors.ts';
import { garbage, hang, json } from './faults.ts';
import { formatErrorMessage, llamaContextError, llamaError } from './llamacpp.ts';
import type { ChoiceEnd, GenerationKind, ReplyFrame } from './replies.ts';
import type { SequenceHandle } from './scheduler.ts';

const encoder = new TextEncoder();

/** What a generation request carries besides its body. */
export interface GenerationRequest {
  request: Request;
  body: Record<string, unknown>;
  /** vLLM's base request id: the client's X-Request-Id, else the body's request_id, else random. */
  baseId: string;
  headers: Record<string, string>;
}

/** Callbacks of {@link runChoices}. */
interface ChoiceEvents {
  onToken(choice: number, index: number): void;
  /** All choices have ended (every token, or aborted). */
  onEnd(ends: ChoiceEnd[]): void;
}

/**
 * Runs each choice (`n`) as its own sequence, as vLLM fans a request out into child requests;
 * `abort` ends the unfinished ones where they are (finish_reason "abort"), `drop` silently.
 */
function runChoices(ctx: SimContext, plan: Plan, events: ChoiceEvents) {
  const ends: ChoiceEnd[] = plan.choices.map(() => ({ emitted: 0, aborted: false }));
  let open = plan.choices.length;
  const handles: SequenceHandle[] = [];
  const ended = () => {
    if (open > 0 && --open === 0) events.onEnd(ends);
  };
  plan.choices.forEach((choice, i) => {
    handles.push(
      ctx.scheduler.submit({
        promptTokens: plan.promptTokens,
        tokens: choice.pieces.length,
        onToken(k) {
          (ends[i] as ChoiceEnd).emitted = k + 1;
          events.onToken(i, k);
        },
        onDone() {
          ctx.finish(choice.finishReason);
          ended();
        },
      }),
    );
  });
  const stopAll = (mark: boolean) => {
    if (open === 0) return false;
    handles.forEach((h, i) => {
      const end = ends[i] as ChoiceEnd;
      if (end.aborted || end.emitted >= (plan.choices[i]?.pieces.length ?? 0)) return;
      h.abort();
      end.aborted = true;
      ctx.finish('abort');
    });
    open = 0;
    if (mark) events.onEnd(ends);
    return true;
  };
  return { ends, abort: () => stopAll(true), drop: () => stopAll(false) };
}

/**
 * What llama-server refuses before generating (server-context.cpp): more than one choice
 * (oaicompat_chat_params_parse "Only one completion choice is allowed"), and a prompt that fills
 * its slot's context (n_ctx / n_parallel), the exceed_context_size_error 400.
 */
function checkLlama(body: Record<string, unknown>, promptTokens: number, slotContext: number): Response | null {
  if (typeof body.n === 'number' && body.n !== 1) return llamaError(400, 'Only one completion choice is allowed');
  if (promptTokens >= slotContext) return llamaContextError(promptTokens, slotContext);
  return null;
}

/** Whether this request's output fails the chat parser (--format-error-rate): decided by its body, so every retry agrees. */
const failsFormat = (rate: number, body: Record<string, unknown>) =>
  rate > 0 && hashText(`format|${JSON.stringify(body)}`) / 0x1_0000_0000 < rate;

/** Serves /v1/chat/completions and /v1/completions: checks as vLLM orders them, then the scheduler. */
export async function generate(
  ctx: SimContext,
  kind: GenerationKind,
  { request, body, baseId, headers }: GenerationRequest,
): Promise<Response> {
  const { options } = ctx;
  const llama = options.profile === 'llamacpp';
  const plan = planReply(body, {
    meanTokens: options.outputTokens,
    maxModelLen: options.maxModelLen,
    reasoning: kind === 'chat' && options.reasoningParser !== null,
  });
  const refused = llama
    ? checkLlama(body, plan.promptTokens, options.maxModelLen)
    : checkPreparation(kind, body, plan.promptTokens, options.maxModelLen);
  if (refused) return refused;
  const streaming = body.stream === true;
  const fault = ctx.rollFault(streaming);
  if (fault === 'error') return engineError(500, 'Simulated engine error.');
  if (fault === 'rate_limit') return engineError(429, 'Simulated rate limit (a proxy in front of the engine): too many requests.');
  if (fault === 'hang') return hang(request);
  if (fault === 'garbage') return garbage(streaming, ctx.dice());
  const top =
    kind === 'chat' ? (body.logprobs ? Number(body.top_logprobs ?? 0) : null) : typeof body.logprobs === 'number' ? body.logprobs : null;
  const frame: ReplyFrame = {
    kind,
    // llama-server names every reply gen_chatcmplid() ("chatcmpl-" and 32 random characters) and echoes the request's model.
    id: llama ? `chatcmpl-${crypto.randomUUID().replace(/-/g, '')}` : `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${baseId}`,
    created: Math.floor(Date.now() / 1000),
    model: llama && typeof body.model === 'string' && body.model ? body.model : ctx.modelName,
    plan,
    systemFingerprint: ctx.systemFingerprint,
    logprobs: top,
    promptLogprobs: typeof body.prompt_logprobs === 'number' ? body.prompt_logprobs : null,
    returnTokenIds: body.return_token_ids === true,
    includeUsage: (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
    includeReasoning: body.include_reasoning !== false,
  };
  const problem = llama ? null : checkInEngine(kind, body, plan.promptTokens, options);
  if (problem && !streaming) return engineError(400, problem.message, problem.param);
  if (problem) {
    const { event, done } = ctx.surface.streamError(400, problem.message, problem.param);
    return new Response(event + (done ? 'data: [DONE]\n\n' : ''), { headers: { 'content-type': 'text/event-stream', ...headers } });
  }
  // Where a broken stream breaks, or the engine aborts: a token of the first choice.
  const breakAt =
    fault === 'disconnect' || fault === 'stall' || fault === 'abort' ? Math.floor(ctx.dice() * (plan.choices[0]?.pieces.length ?? 1)) : -1;
  const reply = { frame, fault, breakAt, headers, formatError: failsFormat(options.formatErrorRate, body) };
  return streaming ? stream(ctx, request, reply) : whole(ctx, request, reply);
}

/** How a reply goes out: its frame, the fault the dice chose and where it strikes. */
interface ReplyPlan {
  frame: ReplyFrame;
  fault: string;
  breakAt: number;
  headers: Record<string, string>;
  /** The output fails the engine's chat parser once complete (llama-server's 500). */
  formatError: boolean;
}

/** The text the chat parser fails on: the first choice's output. */
const outputText = (frame: ReplyFrame) => (frame.plan.choices[0]?.pieces ?? []).join('');

/** A non-streamed reply: the whole body once every choice has ended. */
function whole(ctx: SimContext, request: Request, { frame, fault, breakAt, headers, formatError }: ReplyPlan): Promise<Response> {
  return new Promise<Response>((resolve) => {
    const run = runChoices(ctx, frame.plan, {
      onToken(i, k) {
        if (fault === 'abort' && i === 0 && k === breakAt) run.abort();
      },
      onEnd(ends) {
        ctx.live.delete(run.abort);
        if (formatError && !ends.some((e) => e.aborted)) resolve(engineError(500, formatErrorMessage(outputText(frame))));
        else resolve(json(ctx.surface.body(frame, ends), headers));
      },
    });
    ctx.live.add(run.abort);
    request.signal.addEventListener(
      'abort',
      () => {
        ctx.live.delete(run.abort);
        if (run.drop()) ctx.stats.aborted++;
        resolve(engineError(500, 'aborted'));
      },
      { once: true },
    );
  });
}

/**
 * A streamed reply: SSE chunks as the scheduler emits tokens, interleaved across choices. vLLM
 * sends its headers at once; llama-server only with the first result, when a slot has started the
 * request and sampled its first token (server-context.cpp handle_completions_impl waits on
 * rd.next() before it answers), so a queued request gets no headers at all.
 */
function stream(
  ctx: SimContext,
  request: Request,
  { frame, fault, breakAt, headers, formatError }: ReplyPlan,
): Response | Promise<Response> {
  const format = ctx.surface.chunks(frame);
  let started = () => {};
  const firstResult = new Promise<void>((resolve) => (started = resolve));
  let opened = false;
  let open = true;
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        if (open && text) controller.enqueue(encoder.encode(text));
        if (text) started();
      };
      const openOnce = () => {
        if (!opened) send(format.opening());
        opened = true;
      };
      const run = runChoices(ctx, frame.plan, {
        onToken(i, k) {
          if (i === 0 && k === breakAt && fault !== 'abort') {
            // A broken connection (disconnect) or a silent one (stall): nothing more is sent.
            ctx.live.delete(run.abort);
            run.drop();
            if (fault === 'disconnect') {
              open = false;
              controller.error(new Error('simulated disconnect'));
            }
            return;
          }
          openOnce();
          send(format.token(i, k));
          if (i === 0 && k === breakAt) run.abort();
        },
        onEnd(ends) {
          ctx.live.delete(run.abort);
          if (!open) return;
          openOnce();
          ends.forEach((end, i) => {
            if (end.aborted) send(format.aborted(i, end.emitted));
          });
          if (formatError && !ends.some((e) => e.aborted)) {
            const { event, done } = ctx.surface.streamError(500, formatErrorMessage(outputText(frame)), null);
            send(event + (done ? 'data: [DONE]\n\n' : ''));
          } else {
            send(format.closing(ends.reduce((n, e) => n + e.emitted, 0)));
          }
          started();
          open = false;
          controller.close();
        },
      });
      ctx.live.add(run.abort);
      stop = () => {
        ctx.live.delete(run.abort);
        started();
        if (!open) return;
        open = false;
        if (run.drop()) ctx.stats.aborted++;
        // The body ends with the request, so a server that reads it (node:http's loop) does not wait on it for ever.
        try {
          controller.close();
        } catch {
          // already cancelled by the runtime
        }
      };
    },
    cancel: () => stop(),
  });
  request.signal.addEventListener('abort', () => stop(), { once: true });
  if (ctx.options.profile === 'llamacpp') {
    // server-http.cpp process_handler_response: X-Accel-Buffering: no on every stream.
    const response = () => new Response(body, { headers: { 'content-type': 'text/event-stream', 'x-accel-buffering': 'no', ...headers } });
    return firstResult.then(() => (request.signal.aborted ? engineError(500, 'aborted') : response()));
  }
  return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers } });
}
