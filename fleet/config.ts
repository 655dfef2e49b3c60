import { hostname } from 'node:os';
import { z } from 'zod';
import { destinationPolicy, destinationVariables, logLevel, parseEnv, port, positiveInt, url } from '../core/env.ts';
import { secretBoxOf, secretsVariables, type SecretBox } from '../core/secrets/index.ts';
import { ENGINE_PROFILES } from './engine/profile.ts';
import { ENGINE_PRESETS, templateProblem, type EngineLaunch } from './worker/engine-command.ts';

const ms = (fallback: number) => positiveInt(fallback);

/** A worker process's environment, validated once at start-up (the supervisor sets the per-GPU part). */
export const workerEnv = z
  .object({
    DATABASE_URL: url(['postgres', 'postgresql']).optional(),
    DATA_DIR: z.string().default('./.data'),
    REDIS_URL: url(['redis', 'rediss']).optional(),
    /** Prefix of the event bus's Redis channels; the same as the gateways'. */
    REDIS_PREFIX: z.string().default('vbs:'),
    /** Where the worker serves its Prometheus metrics (`/metrics`); 0 picks a free port; unset, none. */
    METRICS_PORT: z.coerce.number({ error: 'expected a port number (0-65535)' }).int().min(0).max(65535).optional(),
    LOG_LEVEL: logLevel(),
    /** Result-handler manifests (`:`-separated); the worker process runs the handler outbox too. */
    HANDLER_MANIFESTS: z.string().optional(),
    /** How long a handler run stays leased without a heartbeat: a killed worker's runs are retried after it. */
    HANDLER_LEASE_MS: ms(30_000),
    /** Handler runs one process executes at once. */
    HANDLER_CONCURRENCY: positiveInt(4),
    ...destinationVariables,
    /** The gateway's SECRETS_KEY (and SECRETS_KEY_PREVIOUS): handler runs open the batch's secret options with it. */
    ...secretsVariables,
    /** An OpenAI-compatible vLLM base URL this worker sends requests to. */
    ENGINE_URL: url(['http', 'https']).optional(),
    /** Or an engine this worker starts itself with the right command for each model (`vllm`: `vllm serve SOURCE --served-model-name NAME ...`). */
    ENGINE: z.enum(ENGINE_PRESETS, { error: `expected one of ${ENGINE_PRESETS.join(', ')}` }).optional(),
    /** The vLLM command the preset runs (ENGINE=vllm); may be a command with arguments, e.g. `bun fleet/entry/sim.ts`. */
    VLLM_BIN: z.string().default('vllm'),
    /** Or a command template this worker runs as its own engine (another engine than vLLM): `my-engine {model} --name {name} --port {port}`. */
    ENGINE_CMD: z.string().optional(),
    /** The port of the owned engine (ENGINE or ENGINE_CMD). */
    ENGINE_PORT: port(8000),
    ENGINE_API_KEY: z.string().optional(),
    /** Which engine this is, for what a result body holds: `auto` reads the owned_by of its /v1/models cards (vllm, llamacpp, sglang), else `openai`. */
    ENGINE_PROFILE: z.enum(ENGINE_PROFILES, { error: `expected one of ${ENGINE_PROFILES.join(', ')}` }).default('auto'),
    /** The engine's sequence slots (vLLM's --max-num-seqs) when known; otherwise learned from /metrics. */
    ENGINE_MAX_NUM_SEQS: z.coerce.number({ error: 'expected a positive integer' }).int().positive().optional(),
    ENGINE_CONNECT_TIMEOUT_MS: ms(30_000),
    ENGINE_FIRST_TOKEN_TIMEOUT_MS: ms(300_000),
    ENGINE_STALL_TIMEOUT_MS: ms(60_000),
    ENGINE_START_TIMEOUT_MS: ms(1_200_000),
    /** After the engine has been unreachable this long, the requests waiting for it go back to the queue. */
    ENGINE_DOWN_RELEASE_MS: ms(300_000),
    /** Retries of one request after a 5xx, 429, reset or stall, with exponential backoff. */
    ENGINE_MAX_RETRIES: z.coerce.number().int().min(0).default(4),
    ENGINE_BACKOFF_BASE_MS: ms(500),
    ENGINE_BACKOFF_MAX_MS: ms(15_000),
    WORKER_ID: z.string().optional(),
    /** Set by the supervisor: the worker drains and exits when that process is gone (no orphaned workers or engines). */
    SUPERVISOR_PID: z.coerce.number().int().positive().optional(),
    WORKER_HOST: z.string().default(hostname()),
    WORKER_GPU: z.string().default('0'),
    WORKER_RUNTIME: z.string().default('bun'),
    /** Pins the model (skips the registry's choice); with ENGINE_URL, the engine's models otherwise. */
    WORKER_MODEL: z.string().optional(),
    /** The most requests in flight, whatever the engine's capacity. */
    MAX_IN_FLIGHT: positiveInt(4096),
    /** Where the adaptive capacity search starts when the engine's slots are unknown. */
    INITIAL_IN_FLIGHT: positiveInt(256),
    LEASE_TTL_MS: ms(6000),
    HEARTBEAT_MS: ms(2000),
    POLL_MS: ms(1000),
    FLUSH_MS: ms(100),
    /**
     * Results per write at most. A write's fixed cost is paid per statement: 1,024 a write cost the lease
     * path ~15% less CPU per request than 256 (docs/performance.md, "Lease path"); at ordinary rates a
     * flush every FLUSH_MS takes far fewer.
     */
    FLUSH_MAX: positiveInt(1024),
    LEASE_MAX: positiveInt(512),
    /** Lease attempts before a request whose worker keeps dying fails with `too_many_attempts`. */
    MAX_ATTEMPTS: positiveInt(5),
    REAP_MS: ms(1000),
    SWEEP_MS: ms(5000),
    DRAIN_TIMEOUT_MS: ms(30_000),
    MODEL_CHECK_MS: ms(5000),
    MODEL_IDLE_SWITCH_MS: ms(10_000),
    MODEL_FAIRNESS_MS: ms(600_000),
  })
  .superRefine((e, ctx) => {
    if ([e.ENGINE_URL, e.ENGINE, e.ENGINE_CMD].filter(Boolean).length !== 1) {
      const message =
        'set exactly one of ENGINE_URL (an engine to talk to), ENGINE=vllm (a vLLM engine to start) or ENGINE_CMD (another engine to start, e.g. "my-engine {model} --name {name} --port {port}")';
      ctx.addIssue({ code: 'custom', message, path: ['ENGINE_URL'] });
      return;
    }
    const problem = e.ENGINE_CMD ? templateProblem(e.ENGINE_CMD) : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['ENGINE_CMD'] });
  });

/** A worker process's configuration. */
export type WorkerConfig = z.infer<typeof workerEnv> & {
  workerId: string;
  /** Concurrent fetches the runtime allows (Bun: 256 unless BUN_CONFIG_MAX_HTTP_REQUESTS is set at start). */
  fetchLimit: number;
  /** Which destinations a batch's handler options may name (HANDLER_PRIVATE_NETWORKS, HANDLER_ALLOWED_HOSTS). */
  destinations: ReturnType<typeof destinationPolicy>;
  /** Opens the secret options of batches for their handler runs (SECRETS_KEY, SECRETS_KEY_PREVIOUS). */
  secrets: SecretBox;
  /** The environment an owned engine inherits (CUDA_VISIBLE_DEVICES is set on top). */
  engineEnv: Record<string, string | undefined>;
};

/** How a worker starts its own engine (ENGINE or ENGINE_CMD), or null when it is given one (ENGINE_URL). */
export function engineLaunch(config: Pick<WorkerConfig, 'ENGINE' | 'ENGINE_CMD' | 'VLLM_BIN'>): EngineLaunch | null {
  if (config.ENGINE) return { preset: config.ENGINE, bin: config.VLLM_BIN };
  return config.ENGINE_CMD ? { template: config.ENGINE_CMD } : null;
}

/** What the supervisor and the npm scripts set so a Bun worker may hold thousands of streams. */
export const BUN_FETCH_LIMIT = 8192;

/** Reads and validates a worker's configuration from the environment. */
export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const parsed = parseEnv(workerEnv, env);
  const workerId = parsed.WORKER_ID ?? `${parsed.WORKER_HOST}/gpu${parsed.WORKER_GPU}/${process.pid}`;
  // Bun reads BUN_CONFIG_MAX_HTTP_REQUESTS once at start-up and caps fetch at 256 without it.
  const bunLimit = Number(env.BUN_CONFIG_MAX_HTTP_REQUESTS) || 256;
  const fetchLimit = process.versions.bun ? bunLimit : Number.POSITIVE_INFINITY;
  return { ...parsed, workerId, fetchLimit, destinations: destinationPolicy(parsed), secrets: secretBoxOf(parsed), engineEnv: env };
}

/** The supervisor's environment: it passes everything on to its workers and needs Postgres itself. */
export const supervisorEnv = z.object({
  /** Required: every supervisor and worker of the fleet shares one Postgres. */
  DATABASE_URL: url(['postgres', 'postgresql']),
  REDIS_URL: url(['redis', 'rediss']).optional(),
  /** Prefix of the event bus's Redis channels; the same as the gateways' and the workers'. */
  REDIS_PREFIX: z.string().default('vbs:'),
  LOG_LEVEL: logLevel(),
  MAX_ATTEMPTS: positiveInt(5),
  DRAIN_TIMEOUT_MS: ms(30_000),
});

/** The supervisor's configuration, with the environment its workers inherit. */
export type SupervisorConfig = z.infer<typeof supervisorEnv> & { childEnv: Record<string, string | undefined> };

/** Reads and validates the supervisor's configuration from the environment. */
export function loadSupervisorConfig(env: Record<string, string | undefined> = process.env): SupervisorConfig {
  return { ...parseEnv(supervisorEnv, env), childEnv: env };
}
