import type { Logger } from '../../core/logger.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { BackoffOptions } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Capacity } from './capacity.ts';
import { createEngineErrorLog } from './engine-error-log.ts';
import { engineErrorKind } from './error-kind.ts';
import type { Holdings, InFlight } from './holdings.ts';
import type { ResultWriter } from './result-writer.ts';
import { runRequest, type Job, type RunRequestContext } from './run-request.ts';

/** Options for {@link createRequestTasks}. */
export interface RequestTasksOptions {
  holdings: Holdings;
  writer: Pick<ResultWriter, 'add'>;
  client: EngineClient;
  gate: EngineGate;
  /** Open while the engine accepts the worker's API key. */
  keyAccepted: EngineGate;
  capacity: Capacity;
  maxRetries: number;
  backoff: BackoffOptions;
  logger: Logger;
  metrics?: WorkerMetrics | undefined;
  /** False once the worker is stopping: no buffered job is started then. */
  starting: () => boolean;
  /** The engine said it does not serve the job's model; the task ends when this does. */
  onModelMissing(job: Job): Promise<void>;
  /** The engine refused the worker's API key; the task ends when this does. */
  onUnauthorized(job: Job): Promise<void>;
  /** A task ended (answered, failed, dropped, given back): a slot is free. */
  onEnd(): void;
}

/** The tasks that stream the worker's requests through the engine, one per request. */
export interface RequestTasks {
  /** Starts buffered jobs while the engine has room for them (the capacity's target) and its gates are open. */
  pump(): void;
  close(): void;
}

/**
 * Creates {@link RequestTasks}. Each task runs its request to its end (run-request.ts) and hands
 * the result to the writer, under the range the request is held under when it ends.
 */
export function createRequestTasks(options: RequestTasksOptions): RequestTasks {
  const { holdings, writer, capacity, logger, metrics } = options;
  const { inFlight, buffer } = holdings;
  const errorLog = createEngineErrorLog({ logger });
  const runCtx: RunRequestContext = {
    client: options.client,
    gate: options.gate,
    maxRetries: options.maxRetries,
    backoff: options.backoff,
    onEngineError(outcome) {
      const kind = engineErrorKind(outcome);
      metrics?.recordEngineError(kind);
      errorLog.record(kind, outcome.kind === 'rejected' ? `the engine answered ${outcome.statusCode}: ${outcome.body}` : outcome.message);
    },
    onCall(job, atEngine) {
      const entry = inFlight.get(job.id);
      if (!entry) return;
      entry.atEngine = atEngine;
      entry.answering = false;
      if (atEngine) {
        entry.startedAt = performance.now();
        entry.sent = true;
      }
    },
    onFirstByte(job) {
      const entry = inFlight.get(job.id);
      if (entry) entry.answering = true;
    },
  };

  const launch = (job: Job) => {
    // Leased again by this worker after its range was reaped (it was cut off from Postgres): the
    // stream still running answers it, under the new lease. A second one would run it twice.
    const running = inFlight.get(job.id);
    if (running) {
      running.job = job;
      return;
    }
    const controller = new AbortController();
    const started = performance.now();
    const entry: InFlight = { controller, job, startedAt: started, answering: false, atEngine: false, sent: false };
    inFlight.set(job.id, entry);
    runRequest(runCtx, job, controller.signal)
      .then((result) => {
        // Dropped meanwhile (its range was lost, stopped or given back): nothing of it is to be written.
        if (inFlight.get(job.id) !== entry) return;
        if (result === 'model_missing') return options.onModelMissing(entry.job);
        if (result === 'engine_unauthorized') return options.onUnauthorized(entry.job);
        if (!result) return;
        // The range it is answered under: a new one if it was reaped and leased again while it ran.
        writer.add({ ...result, rangeId: entry.job.rangeId });
        metrics?.recordResult({
          model: job.model,
          ok: result.status === 'succeeded',
          promptTokens: result.promptTokens ?? 0,
          completionTokens: result.completionTokens ?? 0,
        });
        metrics?.requestSeconds.observe({ model: job.model }, (performance.now() - started) / 1000);
      })
      .catch((err: unknown) =>
        logger.error('a request task failed unexpectedly; its lease will expire and be retried', { err, requestId: job.id }),
      )
      .finally(() => {
        if (inFlight.get(job.id) === entry) inFlight.delete(job.id);
        pump();
        options.onEnd();
      });
  };

  const pump = () => {
    while (options.starting() && inFlight.size < capacity.target && buffer.size > 0 && options.gate.up && options.keyAccepted.up) {
      launch(buffer.take() as Job);
    }
    metrics?.inFlight.set({}, inFlight.size);
  };

  return {
    pump,
    close: () => errorLog.close(),
  };
}
