import { AppError } from '../../core/errors.ts';
import { getBatch, pauseBatch, QUEUE_CHANNEL, resumeBatch, type BatchRow, type PauseOutcome } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';

const notFound = (batchId: string) =>
  new AppError('NOT_FOUND', `No batch with id ${batchId}; check the id (batches of other API keys are not visible).`, {
    param: 'batch_id',
  });

async function answer(deps: AppDeps, owner: string, batchId: string, outcome: Exclude<PauseOutcome, { kind: 'not_running' }>) {
  if (outcome.kind === 'not_found') throw notFound(batchId);
  if (outcome.changed) deps.pauseChanged({ batchId, owner, pausedAt: outcome.pausedAtMs });
  const batch = await getBatch(deps.database.db, batchId, owner);
  if (!batch) throw notFound(batchId);
  return batch;
}

/**
 * Pauses a batch: nothing more of it is leased; requests already leased finish and are kept.
 * Its status stays what it is and its completion window keeps running. Pausing twice is no error.
 */
export async function pause(deps: AppDeps, owner: string, batchId: string): Promise<BatchRow> {
  const outcome = await pauseBatch(deps.database.db, batchId, owner);
  if (outcome.kind === 'not_running') {
    throw new AppError(
      'CONFLICT',
      `Batch ${batchId} is ${outcome.status}: only a validating or in_progress batch can be paused, and this one runs no more requests: there is nothing to pause.`,
      { param: 'batch_id' },
    );
  }
  return answer(deps, owner, batchId, outcome);
}

/** Resumes a paused batch and wakes the idle workers of its models. Resuming a batch that is not paused is no error. */
export async function resume(deps: AppDeps, owner: string, batchId: string): Promise<BatchRow> {
  const outcome = await resumeBatch(deps.database.db, batchId, owner);
  if (outcome.kind === 'not_running') {
    throw new AppError(
      'CONFLICT',
      `Batch ${batchId} is ${outcome.status} and can no longer be resumed; to run its failed or expired requests again, retry it (the retryBatch mutation in GraphQL).`,
      { param: 'batch_id' },
    );
  }
  if (outcome.kind === 'done') for (const model of outcome.models) await deps.database.notify(QUEUE_CHANNEL, model);
  return answer(deps, owner, batchId, outcome);
}
