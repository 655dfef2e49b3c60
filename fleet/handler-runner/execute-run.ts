import type { Logger } from '../../core/logger.ts';
import { openHandlerOptions, type SecretBox } from '../../core/secrets/index.ts';
import {
  destinationGuard,
  HandlerError,
  type DestinationPolicy,
  type HandlerAnnotation,
  type HandlerContext,
  type HandlerEvent,
  type HandlerRegistry,
  type HandlerResult,
} from '../../handlers/sdk/index.ts';
import {
  failHandlerRun,
  finishHandlerRun,
  getHandlerRunBatch,
  handlerResultOfLine,
  saveHandlerCheckpoint,
  supersedingChange,
  type Database,
  type LeasedHandlerRun,
} from '../../schema/index.ts';
import { toHandlerBatch } from './batch-object.ts';
import { resultMetadataSetter } from './result-metadata.ts';
import { streamResults, toHandlerResult } from './results.ts';

/** What {@link executeRun} needs besides the run. */
export interface ExecuteRunOptions {
  database: Database;
  registry: HandlerRegistry;
  logger: Logger;
  owner: string;
  fetch: typeof fetch;
  /** Which destinations a batch's options may name. */
  destinations: DestinationPolicy;
  /** Opens the batch's sealed secret options (SECRETS_KEY, SECRETS_KEY_PREVIOUS). */
  secrets: SecretBox;
  backoff: { baseMs: number; maxMs: number };
  resultsPageSize: number;
  /** Aborted when the process stops or the run's lease is lost. */
  signal: AbortSignal;
}

/** How a run ended in this process. */
export type RunOutcome = 'succeeded' | 'skipped' | 'queued' | 'dead' | 'lost';

/**
 * Runs one leased handler run to its outcome and records it. Never throws: a handler's
 * failure is stored as data (last_error, attempts, next attempt), as is a database error
 * while recording, which the lease's expiry then turns into a retry.
 */
export async function executeRun(run: LeasedHandlerRun, opts: ExecuteRunOptions): Promise<RunOutcome> {
  const { database, registry, owner } = opts;
  const db = database.db;
  const logger = opts.logger.child({ handler: run.handler, batch_id: run.batchId, handler_run_id: run.id, attempt: run.attempts });
  const fail = async (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const handlerError = error instanceof HandlerError ? error : undefined;
    const stopped = opts.signal.aborted;
    const row = await failHandlerRun(db, {
      id: run.id,
      owner,
      error: stopped ? `attempt ${run.attempts} was interrupted (${String(opts.signal.reason ?? 'stopped')}): ${message}` : message,
      retryable: stopped || (handlerError?.retryable ?? true),
      retryAfterMs: stopped ? 0 : handlerError?.retryAfterMs,
      backoff: opts.backoff,
      refund: stopped,
    });
    if (!row) return 'lost' as const;
    logger[row.status === 'dead' ? 'error' : 'warn'](row.status === 'dead' ? 'handler run is dead' : 'handler run failed; will retry', {
      error: message,
      status: row.status,
    });
    return row.status;
  };

  const skip = async (reason: string) => {
    await finishHandlerRun(db, { id: run.id, owner, status: 'skipped', result: { reason } });
    logger.info('handler run skipped', { reason });
    return 'skipped' as const;
  };

  try {
    const installed = registry.get(run.handler);
    const batch = await getHandlerRunBatch(db, run.batchId);
    if (!installed) return await fail(new HandlerError(`handler "${run.handler}" is not installed in this process`));
    if (!batch) return await fail(new HandlerError(`batch ${run.batchId} does not exist`, { retryable: false }));
    // Opened only here, for the run: plain values (keyless mode, or a batch stored before secrets were sealed) pass as they are.
    const stored = await openHandlerOptions(opts.secrets, run.handler, batch.handlers[run.handler], installed.secretOptions);
    const options = registry.parseOptions(run.handler, stored);
    if (!options.ok) {
      const detail = options.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      return await fail(new HandlerError(`the batch's options for ${run.handler} no longer validate: ${detail}`, { retryable: false }));
    }
    const wanted = registry.events(run.handler, options.value);
    const event = run.event as HandlerEvent;
    if (!wanted.includes(event)) {
      const what = event === 'result.annotated' ? 'annotation changes (result.annotated)' : `${event} batches`;
      return await skip(`${run.handler} does not run for ${what} (it runs for: ${wanted.join(', ')})`);
    }

    const later = await supersedingChange(db, run);
    if (later !== undefined) {
      return await skip(`a later change of this result (annotation ${later}) has already been handled by ${run.handler}`);
    }

    const annotated = await annotatedResult(db, run);
    const guard = destinationGuard(opts.destinations, installed.deployment, opts.fetch);
    const context: HandlerContext = {
      // Not the row's id: run ids restart at 1 with every database, and this is an idempotency key outside it.
      runId: run.annotationSeq === null ? `${run.batchId}:${run.handler}` : `${run.batchId}:${run.handler}:annotation:${run.annotationSeq}`,
      event,
      annotation: annotated.annotation,
      result: annotated.result,
      batch: toHandlerBatch(batch),
      options: options.value,
      deployment: installed.deployment,
      results: (filter) => streamResults(db, run.batchId, filter, opts.resultsPageSize),
      logger,
      signal: opts.signal,
      fetch: guard.fetch,
      checkDestination: guard.checkDestination,
      attempt: run.attempts,
      maxAttempts: run.maxAttempts,
      checkpoint: run.checkpoint === null ? null : JSON.parse(run.checkpoint),
      async saveCheckpoint(value) {
        if (!(await saveHandlerCheckpoint(db, { id: run.id, owner, checkpoint: value }))) {
          throw new HandlerError('this process lost the handler run (its lease expired); another process retries it');
        }
      },
      setResultMetadata: resultMetadataSetter(db, run.batchId),
    };
    logger.info('handler run started', { event: run.event });
    const result = await installed.definition.handle(context);
    if (!(await finishHandlerRun(db, { id: run.id, owner, status: 'succeeded', result: jsonSafe(result) }))) return 'lost';
    logger.info('handler run succeeded');
    return 'succeeded';
  } catch (error) {
    try {
      return await fail(error);
    } catch (recordError) {
      logger.error('could not record a failed handler run; its lease will expire and it will be retried', { err: recordError });
      return 'lost';
    }
  }
}

/**
 * The annotation and result of a `result.annotated` run (both null for a batch's final
 * status). The result is read when the run starts: it carries the metadata as it is now.
 */
async function annotatedResult(
  db: ExecuteRunOptions['database']['db'],
  run: LeasedHandlerRun,
): Promise<{ annotation: HandlerAnnotation | null; result: HandlerResult | null }> {
  if (run.annotation === null || run.line === null) return { annotation: null, result: null };
  const row = await handlerResultOfLine(db, run.batchId, run.line);
  return { annotation: JSON.parse(run.annotation) as HandlerAnnotation, result: row ? toHandlerResult(row) : null };
}

function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return null;
  }
}
