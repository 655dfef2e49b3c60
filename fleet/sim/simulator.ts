import { countTokens, createRandom, hashText, planReply } from './content.ts';
import { engineError } from './errors.ts';
import { formatMetrics, type SimCounters } from './metrics.ts';
import { SIM_DEFAULTS, type SimOptions } from './options.ts';
import { createChunkFormatter, replyBody, type GenerationKind, type ReplyFrame } from './replies.ts';
import { createScheduler } from './scheduler.ts';

/** A vLLM-compatible engine without a GPU: a Web-standard fetch handler any runtime can serve. */
export interface Simulator {
  fetch(request: Request): Promise<Response>;
  counters(): SimCounters;
  close(): void;
}

/** Options for {@link createSimulator}: any of {@link SimOptions}, and what a crash does. */
export interface SimulatorOptions extends Partial<SimOptions> {
  /** Called when `crashAfter` is reached; the entry exits the process. */
  onCrash?: () => void;
}

type Fault = 'none' | 'error' | 'rate_limit' | 'hang' | 'disconnect' | 'stall' | 'garbage';

const encoder = new TextEncoder();
const json = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json', ...headers } });

/** Creates the simulator: continuous batching over `slots`, deterministic replies, optional faults. */
export function createSimulator({ onCrash, ...input }: SimulatorOptions = {}): Simulator {
  const options: SimOptions = { ...SIM_DEFAULTS, ...input };
  const scheduler = createScheduler({ slots: options.slots, ttftMs: options.ttftMs, tpotMs: options.tpotMs });
  const dice = createRandom(options.seed);
  const stats = { promptTokens: 0, requests: 0, aborted: 0, finished: {} as Record<string, number> };
  const finish = (reason: string) => (stats.finished[reason] = (stats.finished[reason] ?? 0) + 1);
  const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replace(/-/g, '')}`;

  const rollFault = (streaming: boolean): Fault => {
    let roll = dice();
    for (const [fault, rate] of [
      ['error', options.errorRate],
      ['rate_limit', options.rateLimitRate],
      ['hang', options.hangRate],
      ['disconnect', streaming ? options.disconnectRate : 0],
      ['stall', streaming ? options.stallRate : 0],
      // Last, so that adding it changed no earlier fault's dice for a given seed.
      ['garbage', options.garbageRate],
    ] as const) {
      if (roll < rate) return fault;
      roll -= rate;
    }
    return 'none';
  };

  /** Parses and checks what every POST shares: JSON, a served model, and the crash switch. */
  const accept = async (request: Request): Promise<{ body: Record<string, unknown> } | Response> => {
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return engineError(400, 'The request body is not valid JSON.');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return engineError(400, 'The request body must be a JSON object.');
    const model = (body as { model?: unknown }).model;
    if (typeof model !== 'string' || !options.models.includes(model)) {
      return engineError(404, `The model \`${String(model)}\` does not exist.`, 'model');
    }
    stats.requests++;
    if (options.crashAfter > 0 && stats.requests >= options.crashAfter) onCrash?.();
    return { body: body as Record<string, unknown> };
  };

  /**
   * A reply that is not what an engine sends: half the time a 200 that breaks its promise (an
   * SSE stream whose events are not JSON, or a truncated JSON body), half the time a 502 of
   * binary junk (NUL bytes, invalid UTF-8), as a broken proxy in front of an engine may answer.
   */
  const garbage = (streaming: boolean) => {
    if (dice() < 0.5) return new Response(new Uint8Array([0x3c, 0x68, 0x31, 0x3e, 0x00, 0xff, 0xfe, 0x00, 0x35, 0x30, 0x32, 0x00]), { status: 502, headers: { 'content-type': 'text/html' } });
    return streaming
      ? new Response('data: {"id":"garbage","choices":[{"delta":{"content":"trunc\n\ndata: <html>502 Bad Gateway</html>\n\ndata: [DONE]\n\n', {
          headers: { 'content-type': 'text/event-stream' },
        })
      : new Response('{"id":"garbage","object":"chat.completion","choices":[{"mess', { headers: { 'content-type': 'application/json' } });
  };

  const hang = (request: Request) =>
    new Promise<Response>((resolve) => request.signal.addEventListener('abort', () => resolve(engineError(500, 'aborted')), { once: true }));

  const generate = async (request: Request, kind: GenerationKind): Promise<Response> => {
    const accepted = await accept(request);
    if (accepted instanceof Response) return accepted;
    const { body } = accepted;
    const problem = checkGeneration(kind, body);
    if (problem) return engineError(400, problem.message, problem.param);
    const streaming = body.stream === true;
    const fault = rollFault(streaming);
    if (fault === 'error') return engineError(500, 'Simulated engine error.');
    if (fault === 'rate_limit') return engineError(429, 'Simulated rate limit: too many requests.');
    if (fault === 'hang') return hang(request);
    if (fault === 'garbage') return garbage(streaming);
    const plan = planReply(body, options.outputTokens);
    const frame: ReplyFrame = { kind, id: newId(kind === 'chat' ? 'chatcmpl' : 'cmpl'), created: Math.floor(Date.now() / 1000), model: body.model as string, plan };
    stats.promptTokens += plan.promptTokens;
    const headers = { 'x-request-id': frame.id };
    if (!streaming) {
      return new Promise<Response>((resolve) => {
        const handle = scheduler.submit({
          tokens: plan.pieces.length,
          onToken() {},
          onDone() {
            finish(plan.finishReason);
            resolve(json(replyBody(frame), headers));
          },
        });
        request.signal.addEventListener('abort', () => {
          handle.abort();
          stats.aborted++;
          resolve(engineError(500, 'aborted'));
        }, { once: true });
      });
    }
    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const format = createChunkFormatter(frame);
    const breakAt = fault === 'disconnect' || fault === 'stall' ? Math.floor(dice() * plan.pieces.length) : -1;
    let open = true;
    let stop = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const handle = scheduler.submit({
          tokens: plan.pieces.length,
          onToken(i) {
            if (i === breakAt) {
              handle.abort();
              if (fault === 'disconnect') {
                open = false;
                controller.error(new Error('simulated disconnect'));
              }
              return;
            }
            controller.enqueue(encoder.encode(i === 0 ? format.opening() + format.token(0) : format.token(i)));
          },
          onDone() {
            open = false;
            finish(plan.finishReason);
            controller.enqueue(encoder.encode(format.closing(includeUsage)));
            controller.close();
          },
        });
        stop = () => {
          if (!open) return;
          open = false;
          handle.abort();
          stats.aborted++;
        };
      },
      cancel: () => stop(),
    });
    request.signal.addEventListener('abort', () => stop(), { once: true });
    return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers } });
  };

  const embed = async (request: Request): Promise<Response> => {
    const accepted = await accept(request);
    if (accepted instanceof Response) return accepted;
    const { body } = accepted;
    const inputs = typeof body.input === 'string' || (Array.isArray(body.input) && typeof body.input[0] === 'number') ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.some((i) => i === '' || i === null)) {
      return engineError(400, 'input must be a non-empty string or a non-empty array of strings or token arrays.', 'input');
    }
    const fault = rollFault(false);
    if (fault === 'error') return engineError(500, 'Simulated engine error.');
    if (fault === 'rate_limit') return engineError(429, 'Simulated rate limit: too many requests.');
    if (fault === 'hang') return hang(request);
    if (fault === 'garbage') return garbage(false);
    const tokens = inputs.reduce<number>((n, i) => n + (typeof i === 'string' ? countTokens(i) : Array.isArray(i) ? i.length : 1), 0);
    stats.promptTokens += tokens;
    const id = newId('embd');
    const reply = {
      id,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: embedding(JSON.stringify(input), options.embeddingDim) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
    };
    return new Promise<Response>((resolve) => {
      scheduler.submit({ tokens: 0, onToken() {}, onDone: () => (finish('stop'), resolve(json(reply, { 'x-request-id': id }))) });
    });
  };

  const counters = (): SimCounters => ({
    running: scheduler.running,
    waiting: scheduler.waiting,
    slots: options.slots,
    generationTokens: scheduler.generatedTokens,
    ...stats,
  });

  return {
    async fetch(request) {
      const { pathname } = new URL(request.url);
      const route = `${request.method} ${pathname}`;
      if (route === 'GET /health') return new Response(null, { status: 200 });
      if (route === 'GET /metrics') return new Response(formatMetrics(options.models[0] ?? '', counters()), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
      if (route === 'GET /v1/models') {
        const created = Math.floor(Date.now() / 1000);
        return json({ object: 'list', data: options.models.map((id) => ({ id, object: 'model', created, owned_by: 'vllm', root: id, parent: null, max_model_len: 8192 })) });
      }
      if (route === 'POST /v1/chat/completions') return generate(request, 'chat');
      if (route === 'POST /v1/completions') return generate(request, 'completion');
      if (route === 'POST /v1/embeddings') return embed(request);
      return new Response(JSON.stringify({ detail: 'Not Found' }), { status: 404, headers: { 'content-type': 'application/json' } });
    },
    counters,
    close: () => scheduler.close(),
  };
}

/** What vLLM would reject with a 400 before generating anything; null when the body is fine. */
function checkGeneration(kind: GenerationKind, body: Record<string, unknown>): { message: string; param: string } | null {
  if (kind === 'chat' && (!Array.isArray(body.messages) || body.messages.length === 0)) {
    return { message: 'messages must be a non-empty array of chat messages.', param: 'messages' };
  }
  if (kind === 'completion' && typeof body.prompt !== 'string' && !Array.isArray(body.prompt)) {
    return { message: 'prompt must be a string or an array.', param: 'prompt' };
  }
  for (const param of ['max_tokens', 'max_completion_tokens']) {
    const value = body[param];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || (value as number) < 1)) {
      return { message: `${param} must be at least 1, got ${JSON.stringify(value)}.`, param };
    }
  }
  if (body.n !== undefined && body.n !== 1) return { message: 'The simulator generates one choice per request (n = 1).', param: 'n' };
  return null;
}

/** A deterministic unit vector for an input. */
function embedding(input: string, dim: number): number[] {
  const random = createRandom(hashText(input));
  const v = Array.from({ length: dim }, () => random() * 2 - 1);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}
