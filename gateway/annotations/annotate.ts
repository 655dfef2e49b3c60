import { sql } from 'drizzle-orm';
import { AppError } from '../../core/errors.ts';
import { TOPICS, type EventBus, type ResultAnnotatedEvent } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import type { HandlerRegistry } from '../../handlers/sdk/index.ts';
import {
  HANDLER_RUNS_CHANNEL,
  recordAnnotation,
  rows,
  type Database,
  type RecordAnnotationInput,
  type RecordAnnotationOutcome,
} from '../../schema/index.ts';
import { validateAnnotation } from './validate-annotation.ts';

/** What {@link annotateAndAnnounce} runs with. */
export interface AnnotateDeps {
  database: Database;
  bus: EventBus;
  handlers: HandlerRegistry;
  /** Told when announcing fails after the change was recorded; the change stands either way. */
  logger?: Logger;
}

/** One change of a result's annotation, as the API or Label Studio's webhook received it. */
export type AnnotateInput = Omit<RecordAnnotationInput, 'annotationHandlers'>;

/**
 * The installed handlers that run on `result.annotated` for a batch: those that list it, and
 * those whose events depend on per-batch options when the batch's stored options say so (the
 * webhook's `events` option, for one, holds only batch events, so it gets no run per change).
 * Without the batch's options, or when a handler's `events` throws on them, a handler with
 * per-batch events is kept: the runner asks it again and skips the run.
 */
export function annotationHandlers(handlers: HandlerRegistry, batchHandlers?: Record<string, unknown>): string[] {
  return handlers.handlers
    .filter(({ name, definition: { events } }) => {
      if (typeof events !== 'function') return events?.includes('result.annotated') ?? false;
      if (!batchHandlers || !(name in batchHandlers)) return !batchHandlers;
      try {
        return handlers.events(name, batchHandlers[name]).includes('result.annotated');
      } catch {
        return true;
      }
    })
    .map((handler) => handler.name);
}

/**
 * Records one change of a result's annotation (validated first: a bad field throws a
 * BAD_REQUEST naming it), then wakes the handler runner when runs were queued and publishes
 * the change on the batch's annotations topic when something changed. Used by GraphQL's
 * `annotateResult` and by Label Studio's webhook, so both announce alike.
 */
export async function annotateAndAnnounce(deps: AnnotateDeps, input: AnnotateInput): Promise<RecordAnnotationOutcome> {
  validateAnnotation(input);
  const outcome = await recordAnnotation(deps.database.db, {
    ...input,
    annotationHandlers: (stored) => annotationHandlers(deps.handlers, stored),
  });
  if (!outcome.ok) return outcome;
  // The change is committed: failing to announce it must not read as "not recorded" (a retry
  // would change nothing and announce nothing). The runner polls as a backstop; subscribers
  // read what they missed from Batch.results.
  const announce = async () => {
    if (outcome.runs > 0) await deps.database.notify(HANDLER_RUNS_CHANNEL, '');
    if (!outcome.changed || !outcome.annotation) return;
    const event: ResultAnnotatedEvent = {
      type: 'result.annotated',
      batchId: input.batchId,
      owner: outcome.owner,
      annotation: outcome.annotation,
      at: Date.now(),
    };
    await deps.bus.publish(TOPICS.annotations(input.batchId), event);
  };
  await announce().catch((err: unknown) =>
    deps.logger?.warn('could not announce an annotation change', { err, batch_id: input.batchId, custom_id: input.customId }),
  );
  return outcome;
}

/**
 * The error a refused change is shown as: NOT_FOUND for an unknown batch or custom_id (another
 * key's batch is not found either), CONFLICT naming the line when it has no result yet.
 */
export async function annotationRefused(
  database: Database,
  input: Pick<AnnotateInput, 'batchId' | 'customId'>,
  reason: 'not_found' | 'no_result',
): Promise<AppError> {
  if (reason === 'not_found') {
    return new AppError(
      'NOT_FOUND',
      `batch ${input.batchId} has no request with custom_id "${input.customId}"; check the batch id and custom_id`,
      { param: 'customId' },
    );
  }
  const [found] = await rows<{ line: number }>(
    database.db,
    sql`select line from requests where batch_id = ${input.batchId} and custom_id = ${input.customId} order by line limit 1`,
  );
  return new AppError(
    'CONFLICT',
    `line ${found?.line ?? '?'} (custom_id "${input.customId}") has no result yet; annotate it once it finished`,
    { param: 'customId', reason: 'no_result' },
  );
}
