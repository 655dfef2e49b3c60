import { AppError } from '../../core/errors.ts';
import { CANCEL_CHANNEL, cancelBatch, getBatch, type BatchRow } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';

/**
 * Cancels a batch: `cancelling`, its queued requests `cancelled`, and `cancelled` once no
 * request is in flight. Workers are told at once (NOTIFY) to abort its streams.
 */
export async function cancel(deps: AppDeps, owner: string, batchId: string): Promise<BatchRow> {
  const { database } = deps;
  const outcome = await cancelBatch(database.db, batchId, owner);
  if (outcome.kind === 'not_found') throw new AppError('NOT_FOUND', `No batch with id ${batchId}.`, { param: 'batch_id' });
  if (outcome.kind === 'not_cancellable') {
    throw new AppError('CONFLICT', `Batch ${batchId} is ${outcome.status} and can no longer be cancelled.`, { param: 'batch_id' });
  }
  await database.notify(CANCEL_CHANNEL, batchId);
  deps.statusChanged(outcome.transitions);
  const batch = await getBatch(database.db, batchId, owner);
  if (!batch) throw new AppError('NOT_FOUND', `No batch with id ${batchId}.`, { param: 'batch_id' });
  return batch;
}
