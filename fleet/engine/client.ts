import type { EngineModelCard } from '../../schema/index.ts';
import { sleep } from './backoff.ts';
import { callEngine, unreachable, type CallContext } from './call.ts';
import type { EngineOutcome } from './outcome.ts';
import { closesConnections, profileFromModels, type EngineProfile, type EngineProfileSetting } from './profile.ts';
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
  /** Which engine this is (ENGINE_PROFILE); `auto` (the default) reads the `owned_by` of its /v1/models cards. */
  profile?: EngineProfileSetting;
  /** Told once what the client concluded about the engine (its profile and why; that it closes its connections). */
  onNote?: (message: string, fields: Record<string, unknown>) => void;
}

/** Talks to one vLLM-compatible engine. */
export interface EngineClient {
  readonly baseUrl: string;
  /**
   * Runs one request: streamed (and reassembled) for chat and completions unless vLLM cannot
   * stream what it asks, plain otherwise. `requestId` is sent as X-Request-Id.
   */
  call(endpoint: string, body: string, signal?: AbortSignal, requestId?: string, onFirstEvent?: () => void): Promise<EngineOutcome>;
  /** Whether /health answers 2xx within `timeoutMs`. */
  health(timeoutMs?: number): Promise<boolean>;
  /**
   * Whether the engine is still there, judged as one would: a refused connection or an error
   * status is down at once; a /health that does not answer in time is down only when no stream
   * has moved meanwhile and it fails three probes in a row (a burst of connections slows it).
   * One probe at a time, shared by every caller.
   */
  reachable(): Promise<boolean>;
  /** The engine's profile; null until known (read from /v1/models, on the first call or `models()`). */
  readonly profile: EngineProfile | null;
  /** The served model names, from /v1/models. */
  models(): Promise<string[]>;
  /** The cards of the last /v1/models answer: each model's id, and vLLM's `root` and `max_model_len` when given. */
  readonly modelCards: readonly EngineModelCard[];
}

/** A /health probe's answer: up (2xx), down (refused, or an error status), or none in time. */
type Probe = 'up' | 'down' | 'silent';

/** Failed /health probes in a row, with no stream moving, that make an engine down. */
const PROBES_BEFORE_DOWN = 3;
const PROBE_PAUSE_MS = 500;
const HEALTH_TIMEOUT_MS = 2000;
/** How long an undecided profile waits before /v1/models is asked again. */
const DETECT_AGAIN_MS = 30_000;

/** Creates the engine client. */
export function createEngineClient(options: EngineClientOptions): EngineClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const { watchdog, connectTimeoutMs, firstTokenTimeoutMs, stallTimeoutMs, onNote } = options;
  const setting = options.profile ?? 'auto';
  let profile: EngineProfile | null = null;
  let detectAfter = 0;
  let detecting: Promise<void> | null = null;
  let judging: Promise<boolean> | null = null;

  const get = async (path: string, timeoutMs: number) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await doFetch(`${baseUrl}${path}`, { signal: controller.signal, headers });
    } finally {
      clearTimeout(timer);
    }
  };

  const context: CallContext = {
    baseUrl,
    watchdog,
    connectTimeoutMs,
    firstTokenTimeoutMs,
    stallTimeoutMs,
    headers,
    fetch: doFetch,
    profile: 'openai',
    connections: { fresh: false, resets: 0, since: 0 },
    onFreshConnections: (why) =>
      onNote?.('the engine closes its connections after each response; every request now goes on a connection of its own', {
        engineUrl: baseUrl,
        why,
      }),
    reachable: () => client.reachable(),
  };
  const decide = (next: EngineProfile, reason: string) => {
    if (profile === next) return;
    profile = next;
    context.profile = next;
    if (closesConnections(next)) context.connections.fresh = true;
    onNote?.(
      `the engine's profile is ${next}: results are written as ${next === 'openai' ? 'an OpenAI-compatible engine' : next} returns them without streaming`,
      { engineUrl: baseUrl, profile: next, why: reason },
    );
  };
  if (setting !== 'auto') decide(setting, 'ENGINE_PROFILE sets it');

  let modelCards: EngineModelCard[] = [];
  const listModels = async () => {
    const res = await get('/v1/models', 5000);
    if (res.status === 401 || res.status === 403)
      throw new Error(
        `GET ${baseUrl}/v1/models answered ${res.status}: the engine was started with --api-key; set ENGINE_API_KEY to that key`,
      );
    if (!res.ok) {
      await res.body?.cancel();
      if (profile === null && (res.status === 404 || res.status === 405)) decide('openai', `GET /v1/models answered ${res.status}`);
      throw new Error(`GET ${baseUrl}/v1/models answered ${res.status}`);
    }
    const json = (await res.json()) as { data?: { id: string; owned_by?: unknown; root?: unknown; max_model_len?: unknown }[] };
    const cards = json.data ?? [];
    modelCards = cards.map((m) => ({
      id: m.id,
      root: typeof m.root === 'string' ? m.root : null,
      maxModelLen:
        Number.isSafeInteger(m.max_model_len) && (m.max_model_len as number) > 0 && (m.max_model_len as number) < 2 ** 31
          ? (m.max_model_len as number)
          : null,
    }));
    if (profile === null && cards.length) {
      const found = profileFromModels(cards);
      decide(found.profile, found.reason);
    }
    return cards.map((m) => m.id);
  };
  // A call before the profile is known asks /v1/models once (a few seconds at most); if that
  // fails, the call goes on with the OpenAI shape and the question is asked again later.
  const detect = () => {
    if (profile !== null || performance.now() < detectAfter) return null;
    detecting ??= Promise.race([listModels().then(() => undefined), sleep(HEALTH_TIMEOUT_MS)])
      .catch(() => undefined)
      .finally(() => {
        detecting = null;
        if (profile === null) detectAfter = performance.now() + DETECT_AGAIN_MS;
      });
    return detecting;
  };

  const probe = async (): Promise<Probe> => {
    try {
      const res = await get('/health', HEALTH_TIMEOUT_MS);
      await res.body?.cancel();
      return res.ok ? 'up' : 'down';
    } catch (error) {
      return unreachable(error) ? 'down' : 'silent';
    }
  };
  const judge = async () => {
    for (let failed = 1; ; failed++) {
      const answer = await probe();
      if (answer !== 'silent') return answer === 'up';
      // A stream moved while /health was silent: the engine is busy, not gone.
      if (performance.now() - watchdog.lastActivityAt() < 2 * HEALTH_TIMEOUT_MS) return true;
      if (failed >= PROBES_BEFORE_DOWN) return false;
      await sleep(PROBE_PAUSE_MS);
    }
  };

  const client: EngineClient = {
    baseUrl,
    get profile() {
      return profile;
    },
    async call(endpoint, body, signal, requestId, onFirstEvent) {
      if (profile === null) await detect();
      return callEngine(context, endpoint, body, signal, requestId, onFirstEvent);
    },
    async health(timeoutMs = HEALTH_TIMEOUT_MS) {
      try {
        const res = await get('/health', timeoutMs);
        await res.body?.cancel();
        return res.ok;
      } catch {
        return false;
      }
    },
    reachable() {
      judging ??= judge().finally(() => {
        judging = null;
      });
      return judging;
    },
    models: listModels,
    get modelCards() {
      return modelCards;
    },
  };
  return client;
}
