import { createRateWindow, SECONDS_BUCKETS, type Registry } from '../../core/metrics/index.ts';

/** Why a call to the engine failed, as the worker classifies it (the `kind` label of engine errors). */
export type EngineErrorKind =
  | 'http_5xx'
  | 'http_429'
  | 'http_4xx'
  | 'unauthorized'
  | 'connect'
  | 'reset'
  | 'stall'
  | 'timeout'
  | 'abort'
  | 'bad_response'
  | 'other';

/** What a worker is, as the `vbs_worker_info` series says. */
export interface WorkerInfo {
  workerId: string;
  host: string;
  gpu: string;
  runtime: string;
}

/**
 * The metrics of one worker process, registered on its registry; the worker serves them
 * with `createMetricsEndpoint(registry)` on `--metrics-port`. Names and meanings are listed in
 * docs/observability.md.
 */
export function createWorkerMetrics(registry: Registry, info: WorkerInfo) {
  const tokenRate = createRateWindow({ windowMs: 10_000 });
  const m = {
    info: registry.gauge({
      name: 'vbs_worker_info',
      help: 'Always 1; labels say which worker this is.',
      labelNames: ['worker_id', 'host', 'gpu', 'runtime', 'model'],
    }),
    completed: registry.counter({
      name: 'vbs_worker_requests_completed_total',
      help: 'Requests this worker finished with a response.',
      labelNames: ['model'],
    }),
    failed: registry.counter({
      name: 'vbs_worker_requests_failed_total',
      help: 'Requests this worker finished with an error (after retries, or a 4xx).',
      labelNames: ['model'],
    }),
    promptTokens: registry.counter({
      name: 'vbs_worker_prompt_tokens_total',
      help: 'Prompt tokens of the requests this worker finished.',
      labelNames: ['model'],
    }),
    completionTokens: registry.counter({
      name: 'vbs_worker_completion_tokens_total',
      help: 'Generated tokens of the requests this worker finished.',
      labelNames: ['model'],
    }),
    tokensPerSecond: registry.gauge({
      name: 'vbs_worker_tokens_per_second',
      help: 'Generated tokens per second over the last 10 seconds.',
    }),
    inFlight: registry.gauge({ name: 'vbs_worker_in_flight', help: 'Requests streaming through the engine now.' }),
    capacity: registry.gauge({
      name: 'vbs_worker_capacity',
      help: 'Requests the worker aims to keep in flight (the engine capacity it follows).',
    }),
    leased: registry.counter({
      name: 'vbs_worker_requests_leased_total',
      help: 'Requests this worker leased from the queue.',
      labelNames: ['model'],
    }),
    leaseSeconds: registry.histogram({
      name: 'vbs_worker_lease_duration_seconds',
      help: 'Time of one lease statement against Postgres.',
      buckets: SECONDS_BUCKETS,
    }),
    writeSeconds: registry.histogram({
      name: 'vbs_worker_result_write_duration_seconds',
      help: 'Time of one batched result write against Postgres.',
      buckets: SECONDS_BUCKETS,
    }),
    requestSeconds: registry.histogram({
      name: 'vbs_worker_request_duration_seconds',
      help: 'Time from sending a request to the engine to its last token.',
      labelNames: ['model'],
      buckets: SECONDS_BUCKETS,
    }),
    firstTokenSeconds: registry.histogram({
      name: 'vbs_worker_time_to_first_token_seconds',
      help: 'Time from sending a request to the engine to its first token.',
      labelNames: ['model'],
      buckets: SECONDS_BUCKETS,
    }),
    engineErrors: registry.counter({
      name: 'vbs_worker_engine_errors_total',
      help: 'Failed engine calls by kind; retried ones included.',
      labelNames: ['kind'],
    }),
    leasesLost: registry.counter({
      name: 'vbs_worker_leases_lost_total',
      help: "Results not written because the lease was no longer this worker's.",
    }),
    heartbeatFailures: registry.counter({ name: 'vbs_worker_heartbeat_failures_total', help: 'Heartbeats that failed to reach Postgres.' }),
  };
  registry.collect(() => m.tokensPerSecond.set({}, Math.round(tokenRate.rate() * 10) / 10));
  const setModel = (model: string | null) => {
    m.info.reset();
    m.info.set({ worker_id: info.workerId, host: info.host, gpu: info.gpu, runtime: info.runtime, model: model ?? '' }, 1);
  };
  setModel(null);
  return {
    ...m,
    /** Says which model the worker serves now (on start and on a model switch). */
    setModel,
    /** Records one finished request: counters, tokens and the tokens/s window. */
    recordResult({
      model,
      ok,
      promptTokens = 0,
      completionTokens = 0,
    }: {
      model: string;
      ok: boolean;
      promptTokens?: number;
      completionTokens?: number;
    }) {
      (ok ? m.completed : m.failed).inc({ model });
      if (promptTokens) m.promptTokens.inc({ model }, promptTokens);
      if (completionTokens) {
        m.completionTokens.inc({ model }, completionTokens);
        tokenRate.add(completionTokens);
      }
    },
    /** Records a failed engine call. */
    recordEngineError(kind: EngineErrorKind) {
      m.engineErrors.inc({ kind });
    },
  };
}

/** The metrics of a worker, as {@link createWorkerMetrics} returns them. */
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
