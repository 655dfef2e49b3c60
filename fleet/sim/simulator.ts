import { checkRequestModel } from './checks.ts';
import { hashText } from './content.ts';
import { createFaultDice, type SimContext } from './context.ts';
import { embed } from './embed.ts';
import { engineError, requestValidationError } from './errors.ts';
import { json } from './faults.ts';
import { generate } from './generate.ts';
import { formatMetrics, type SimCounters } from './metrics.ts';
import { modelList } from './models.ts';
import { SIM_DEFAULTS, type SimOptions } from './options.ts';
import { pyTuple } from './py-repr.ts';
import { createScheduler } from './scheduler.ts';

/** A vLLM-compatible engine without a GPU: a Web-standard fetch handler any runtime can serve. */
export interface Simulator {
  fetch(request: Request): Promise<Response>;
  counters(): SimCounters;
  /** Shuts down as `vllm serve` on SIGTERM: every request in flight ends with finish_reason "abort". */
  close(): void;
}

/** Options for {@link createSimulator}: any of {@link SimOptions} (apiKey also as one string), and what a crash does. */
export interface SimulatorOptions extends Partial<Omit<SimOptions, 'apiKey'>> {
  apiKey?: string | string[] | null;
  /** Called when `crashAfter` is reached; the entry exits the process. */
  onCrash?: () => void;
}

/** Paths behind --api-key (server_utils.py GUARDED_PREFIX); /health and /metrics stay open. */
const GUARDED = ['/v1', '/v2', '/inference'];
const randomHex = () => crypto.randomUUID().replace(/-/g, '');
const detail = (status: number, text: string) => new Response(JSON.stringify({ detail: text }), { status, headers: { 'content-type': 'application/json' } });

/** Resolves the options: served names from the source when none are given, the KV cache from the sizes. */
function resolveOptions({ apiKey, ...input }: Omit<SimulatorOptions, 'onCrash'>): SimOptions {
  const models = input.models ?? (input.source ? [input.source] : SIM_DEFAULTS.models);
  const options: SimOptions = { ...SIM_DEFAULTS, ...input, models, apiKey: apiKey ? [apiKey].flat() : [] };
  if (!options.kvCacheTokens) options.kvCacheTokens = options.slots * options.maxModelLen;
  if (options.kvCacheTokens < options.maxModelLen) {
    throw new Error(`max_model_len (${options.maxModelLen}) is larger than the KV cache (${options.kvCacheTokens} tokens): one request of that length could never run`);
  }
  return options;
}

/** Creates the simulator: vLLM V1's scheduler and HTTP server in miniature, deterministic replies, optional faults. */
export function createSimulator({ onCrash, ...input }: SimulatorOptions = {}): Simulator {
  const options = resolveOptions(input);
  const scheduler = createScheduler(options);
  const { dice, rollFault } = createFaultDice(options);
  const stats = { requests: 0, aborted: 0, finished: {} as Record<string, number> };
  const ctx: SimContext = {
    options,
    scheduler,
    stats,
    live: new Set(),
    modelName: options.models[0] ?? options.source ?? 'sim-model',
    systemFingerprint: `vllm-sim-${hashText(`${options.source ?? ''}|${options.models.join(',')}|${options.maxModelLen}`).toString(16).padStart(8, '0')}`,
    rollFault,
    dice,
    finish: (reason) => void (stats.finished[reason] = (stats.finished[reason] ?? 0) + 1),
    closed: false,
  };

  /**
   * What every POST goes through before its handler, in vLLM's order: the JSON content type
   * (openai/utils.py validate_json_request), the body, the request model's validators, the
   * served model (models/serving.py check_model; a request may leave `model` out), the crash switch.
   */
  const accept = async (request: Request, kind: 'chat' | 'completion' | 'embedding'): Promise<Record<string, unknown> | Response> => {
    const media = (request.headers.get('content-type') ?? '').toLowerCase().split(';')[0]?.trim();
    if (media !== 'application/json') return requestValidationError(["Unsupported Media Type: Only 'application/json' is allowed"]);
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return requestValidationError([{ type: 'json_invalid', loc: pyTuple(['body', 0]), msg: 'JSON decode error', input: {}, ctx: { error: (error as Error).message } }]);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return requestValidationError([{ type: 'model_attributes_type', loc: pyTuple(['body']), msg: 'Input should be a valid dictionary or object to extract fields from', input: body }]);
    }
    const record = body as Record<string, unknown>;
    if (kind !== 'embedding') {
      const refused = checkRequestModel(kind, record);
      if (refused) return refused;
    }
    const model = record.model;
    if (model !== undefined && model !== null && model !== '' && !options.models.includes(String(model))) {
      return engineError(404, `The model \`${String(model)}\` does not exist.`, 'model');
    }
    stats.requests++;
    if (options.crashAfter > 0 && stats.requests >= options.crashAfter) onCrash?.();
    return record;
  };

  const counters = (): SimCounters => ({
    running: scheduler.running,
    waiting: scheduler.waiting,
    slots: options.slots,
    kvUsage: scheduler.kvUsage,
    preemptions: scheduler.preemptions,
    generationTokens: scheduler.generatedTokens,
    promptTokens: scheduler.promptTokens,
    ...stats,
  });

  /** --api-key (server_utils.py AuthenticationMiddleware): `Authorization: Bearer KEY` on the guarded paths. */
  const authorized = (request: Request, pathname: string) => {
    if (!options.apiKey.length || request.method === 'OPTIONS' || !GUARDED.some((p) => pathname.startsWith(p))) return true;
    const [scheme, ...rest] = (request.headers.get('authorization') ?? '').split(' ');
    return scheme?.toLowerCase() === 'bearer' && options.apiKey.includes(rest.join(' '));
  };
  const unauthorized = () => new Response(JSON.stringify({ error: 'Unauthorized' }), { status: 401, headers: { 'content-type': 'application/json' } });

  const route = async (request: Request, pathname: string, headers: Record<string, string>): Promise<Response> => {
    const method = request.method;
    if (pathname === '/health') return method === 'GET' ? new Response(null, { status: 200 }) : detail(405, 'Method Not Allowed');
    if (pathname === '/metrics') {
      return new Response(formatMetrics({ model: ctx.modelName, disableLogStats: options.disableLogStats }, counters()), {
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      });
    }
    if (pathname === '/v1/models') return method === 'GET' ? json(modelList(options)) : detail(405, 'Method Not Allowed');
    const kind = ({ '/v1/chat/completions': 'chat', '/v1/completions': 'completion', '/v1/embeddings': 'embedding' } as const)[pathname];
    if (!kind) return detail(404, 'Not Found');
    if (method !== 'POST') return detail(405, 'Method Not Allowed');
    const body = await accept(request, kind);
    if (body instanceof Response) return body;
    // vLLM's base request id (engine/serving.py _base_request_id): the client's X-Request-Id, else the body's request_id.
    const bodyId = kind !== 'embedding' && typeof body.request_id === 'string' ? body.request_id : null;
    const baseId = request.headers.get('x-request-id') ?? bodyId ?? randomHex();
    const call = { request, body, baseId, headers };
    return kind === 'embedding' ? embed(ctx, call) : generate(ctx, kind, call);
  };

  return {
    async fetch(request) {
      const { pathname } = new URL(request.url);
      // --enable-request-id-headers (server_utils.py XRequestIdMiddleware, the outermost): the client's id echoed, else a fresh one.
      const headers: Record<string, string> = options.enableRequestIdHeaders ? { 'x-request-id': request.headers.get('x-request-id') ?? randomHex() } : {};
      const response = authorized(request, pathname) ? await route(request, pathname, headers) : unauthorized();
      if (!options.enableRequestIdHeaders || response.headers.has('x-request-id')) return response;
      const withId = new Headers(response.headers);
      withId.set('x-request-id', headers['x-request-id'] as string);
      return new Response(response.body, { status: response.status, headers: withId });
    },
    counters,
    close() {
      if (ctx.closed) return;
      ctx.closed = true;
      for (const abort of [...ctx.live]) abort();
      scheduler.close();
    },
  };
}
