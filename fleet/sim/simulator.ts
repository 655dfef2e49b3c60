import { checkRequestModel } from './checks.ts';
import { hashText } from './content.ts';
import { createFaultDice, type SimContext } from './context.ts';
import { embed } from './embed.ts';
import { engineError, requestValidationError } from './errors.ts';
import { json } from './faults.ts';
import { generate } from './generate.ts';
import { llamaError, llamaLoading, llamaMetrics, llamaMetricsDisabled, llamaModels, llamaNotFound } from './llamacpp.ts';
import { formatMetrics, type SimCounters } from './metrics.ts';
import { modelList } from './models.ts';
import { SIM_DEFAULTS, type SimOptions } from './options.ts';
import { pyTuple } from './py-repr.ts';
import { respond } from './responses.ts';
import { createScheduler } from './scheduler.ts';
import { sglangMetrics } from './sglang.ts';
import { inProfileShape, replySurface } from './surface.ts';

/** A vLLM-compatible engine without a GPU: a Web-standard fetch handler any runtime can serve. */
export interface Simulator {
  fetch(request: Request): Promise<Response>;
  counters(): SimCounters;
  /** Shuts down as `vllm serve` on SIGTERM: every request in flight ends with finish_reason "abort". */
  close(): void;
  /**
   * Whether the server must drop the connection after this response although it advertised
   * keep-alive (llama-server after a stream): a fetch handler cannot, so the HTTP server serving it does.
   */
  closesConnection(response: Response): boolean;
}

/** Options for {@link createSimulator}: any of {@link SimOptions} (apiKey also as one string), and what a crash does. */
export interface SimulatorOptions extends Partial<Omit<SimOptions, 'apiKey'>> {
  apiKey?: string | string[] | null;
  /** Called when `crashAfter` is reached; the entry exits the process. */
  onCrash?: () => void;
}

/** Paths behind --api-key (server_utils.py GUARDED_PREFIX); /health and /metrics stay open. */
const GUARDED = ['/v1', '/v2', '/inference'];
/** llama-server's paths open without a key (server-http.cpp get_public_endpoints). */
const LLAMA_PUBLIC = new Set(['/health', '/v1/health', '/models', '/v1/models', '/']);
const randomHex = () => crypto.randomUUID().replace(/-/g, '');
const detail = (status: number, text: string) =>
  new Response(JSON.stringify({ detail: text }), { status, headers: { 'content-type': 'application/json' } });

/** The `sim:` series the tests read, appended to every profile's /metrics. */
function simExtras(c: SimCounters): string {
  const tail = formatMetrics({ model: '', disableLogStats: true }, c);
  return tail;
}

/** Resolves the options: served names from the source when none are given, the KV cache from the sizes. */
function resolveOptions({ apiKey, ...input }: Omit<SimulatorOptions, 'onCrash'>): SimOptions {
  const models = input.models ?? (input.source ? [input.source] : SIM_DEFAULTS.models);
  const options: SimOptions = { ...SIM_DEFAULTS, ...input, models, apiKey: apiKey ? [apiKey].flat() : [] };
  if (!options.kvCacheTokens) options.kvCacheTokens = options.slots * options.maxModelLen;
  if (options.kvCacheTokens < options.maxModelLen) {
    throw new Error(
      `max_model_len (${options.maxModelLen}) is larger than the KV cache (${options.kvCacheTokens} tokens): one request of that length could never run`,
    );
  }
  return options;
}

/** Creates the simulator: vLLM V1's scheduler and HTTP server in miniature, deterministic replies, optional faults. */
export function createSimulator({ onCrash, ...input }: SimulatorOptions = {}): Simulator {
  const options = resolveOptions(input);
  const scheduler = createScheduler(options);
  const startedAt = Date.now();
  const closing = new WeakSet<Response>();
  const { dice, rollFault } = createFaultDice(options);
  const stats = { requests: 0, aborted: 0, finished: {} as Record<string, number> };
  const ctx: SimContext = {
    options,
    scheduler,
    surface: replySurface(options),
    stats,
    live: new Set(),
    modelName: options.models[0] ?? options.source ?? 'sim-model',
    systemFingerprint: `vllm-sim-${hashText(`${options.source ?? ''}|${options.models.join(',')}|${options.maxModelLen}`)
      .toString(16)
      .padStart(8, '0')}`,
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
  const accept = async (
    request: Request,
    kind: 'chat' | 'completion' | 'embedding' | 'responses',
  ): Promise<Record<string, unknown> | Response> => {
    const media = (request.headers.get('content-type') ?? '').toLowerCase().split(';')[0]?.trim();
    if (media !== 'application/json') return requestValidationError(["Unsupported Media Type: Only 'application/json' is allowed"]);
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return requestValidationError([
        { type: 'json_invalid', loc: pyTuple(['body', 0]), msg: 'JSON decode error', input: {}, ctx: { error: (error as Error).message } },
      ]);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return requestValidationError([
        {
          type: 'model_attributes_type',
          loc: pyTuple(['body']),
          msg: 'Input should be a valid dictionary or object to extract fields from',
          input: body,
        },
      ]);
    }
    const record = body as Record<string, unknown>;
    if (kind === 'chat' || kind === 'completion') {
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
    if (options.profile === 'llamacpp') {
      // server-http.cpp middleware_validate_api_key: "Bearer " optional, X-Api-Key as a fallback.
      if (!options.apiKey.length || request.method === 'OPTIONS' || LLAMA_PUBLIC.has(pathname)) return true;
      const key = (request.headers.get('authorization') || request.headers.get('x-api-key') || '').replace(/^Bearer /, '');
      return options.apiKey.includes(key);
    }
    if (!options.apiKey.length || request.method === 'OPTIONS' || !GUARDED.some((p) => pathname.startsWith(p))) return true;
    const [scheme, ...rest] = (request.headers.get('authorization') ?? '').split(' ');
    return scheme?.toLowerCase() === 'bearer' && options.apiKey.includes(rest.join(' '));
  };
  const unauthorized = () =>
    options.profile === 'llamacpp'
      ? llamaError(401, 'Invalid API Key')
      : new Response(JSON.stringify({ error: 'Unauthorized' }), { status: 401, headers: { 'content-type': 'application/json' } });

  /** /health, /metrics and /v1/models of the profile's engine; null for the generation routes. */
  const serviceRoute = (method: string, pathname: string): Response | null => {
    const profile = options.profile;
    if (pathname === '/health' || (profile === 'llamacpp' && pathname === '/v1/health')) {
      if (method !== 'GET') return detail(405, 'Method Not Allowed');
      // server-context.cpp get_health: {"status":"ok"}; vLLM and SGLang answer an empty 200.
      return profile === 'llamacpp' ? json({ status: 'ok' }) : new Response(null, { status: 200 });
    }
    if (pathname === '/metrics') {
      if (profile === 'bare') return detail(404, 'Not Found');
      if (profile === 'llamacpp') {
        if (!options.metrics) return llamaMetricsDisabled();
        const text = llamaMetrics(counters(), options) + simExtras(counters());
        return new Response(text, {
          headers: { 'content-type': 'text/plain; version=0.0.4', 'process-start-time-unix': String(Math.floor(startedAt / 1000)) },
        });
      }
      if (profile === 'sglang') {
        // SGLang mounts /metrics only with --enable-metrics.
        if (!options.metrics) return detail(404, 'Not Found');
        return new Response(sglangMetrics(ctx.modelName, counters()) + simExtras(counters()), {
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        });
      }
      return new Response(formatMetrics({ model: ctx.modelName, disableLogStats: options.disableLogStats }, counters()), {
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      });
    }
    if (pathname === '/v1/models' || (profile === 'llamacpp' && pathname === '/models')) {
      if (method !== 'GET') return detail(405, 'Method Not Allowed');
      if (profile === 'llamacpp') return json(llamaModels(options, options.maxModelLen));
      if (profile === 'sglang') {
        const created = Math.floor(Date.now() / 1000);
        return json({
          object: 'list',
          data: options.models.map((id) => ({
            id,
            object: 'model',
            created,
            owned_by: 'sglang',
            root: options.source ?? id,
            max_model_len: options.maxModelLen,
          })),
        });
      }
      return json(modelList(options));
    }
    return null;
  };

  const route = async (request: Request, pathname: string, headers: Record<string, string>): Promise<Response> => {
    const method = request.method;
    const service = serviceRoute(method, pathname);
    if (service) return service;
    const kind = (
      {
        '/v1/chat/completions': 'chat',
        '/v1/completions': 'completion',
        '/v1/embeddings': 'embedding',
        '/v1/responses': 'responses',
      } as const
    )[pathname];
    if (!kind) return options.profile === 'llamacpp' ? llamaNotFound() : detail(404, 'Not Found');
    if (method !== 'POST') return detail(405, 'Method Not Allowed');
    const body = await accept(request, kind);
    if (body instanceof Response) return body;
    // vLLM's base request id (engine/serving.py _base_request_id): the client's X-Request-Id, else the body's request_id.
    const bodyId = (kind === 'chat' || kind === 'completion') && typeof body.request_id === 'string' ? body.request_id : null;
    const baseId = request.headers.get('x-request-id') ?? bodyId ?? randomHex();
    const call = { request, body, baseId, headers };
    if (kind === 'responses') return respond(ctx, call);
    return kind === 'embedding' ? embed(ctx, call) : generate(ctx, kind, call);
  };

  return {
    async fetch(request) {
      const { pathname } = new URL(request.url);
      // server-http.cpp middleware_server_state: nothing is served while the model loads.
      if (options.profile === 'llamacpp' && Date.now() - startedAt < options.loadMs) return llamaLoading();
      // --enable-request-id-headers (server_utils.py XRequestIdMiddleware, the outermost): the client's id echoed, else a fresh one.
      const headers: Record<string, string> = options.enableRequestIdHeaders
        ? { 'x-request-id': request.headers.get('x-request-id') ?? randomHex() }
        : {};
      const response = await inProfileShape(
        options.profile,
        authorized(request, pathname) ? await route(request, pathname, headers) : unauthorized(),
      );
      if (options.profile === 'llamacpp' && response.headers.get('content-type') === 'text/event-stream') closing.add(response);
      if (!options.enableRequestIdHeaders || response.headers.has('x-request-id')) return response;
      const withId = new Headers(response.headers);
      withId.set('x-request-id', headers['x-request-id'] as string);
      return new Response(response.body, { status: response.status, headers: withId });
    },
    counters,
    closesConnection: (response) => closing.has(response),
    close() {
      if (ctx.closed) return;
      ctx.closed = true;
      for (const abort of [...ctx.live]) abort();
      scheduler.close();
    },
  };
}
