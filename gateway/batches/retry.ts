import { AppError } from '../../core/errors.ts';
import { getBatch, newId, QUEUE_CHANNEL, retryBatch, type BatchRow } from '../../schema/index.ts';
import { retentionSeconds } from '../files/expires-after.ts';
import type { AppDeps } from '../app-deps.ts';
import { withinQueuedLimit } from '../quotas/queued-limit.ts';

/** Creates a new batch of the failed and expired requests of a finished batch, queued at once. */
export async function retry(deps: AppDeps, owner: string, batchId: string): Promise<BatchRow> {
  const { database } = deps;
  const outcome = await withinQueuedLimit(deps, owner, (db) =>
    retryBatch(db, {
      batchId,
      owner,
      newBatchId: newId('batch_'),
      newFileId: newId('file-'),
      inputExpiresAfter: retentionSeconds(deps.config.FILE_RETENTION_DAYS),
    }),
  );
  switch (outcome.kind) {
    case 'not_found':
      throw new AppError('NOT_FOUND', `No batch with id ${batchId}.`, { param: 'batch_id' });
    case 'not_finished':
      throw new AppError('CONFLICT', `Batch ${batchId} is ${outcome.status}; retry it once it has finished (or cancel it first).`, {
        param: 'batch_id',
      });
    case 'nothing_to_retry':
      throw new AppError('BAD_REQUEST', `Batch ${batchId} has no failed or expired requests to retry.`, { param: 'batch_id' });
    case 'bodies_purged':
      throw new AppError(
        'CONFLICT',
        `Batch ${batchId} can no longer be retried: its input file expired or was deleted, and with it the stored request bodies. Upload the requests again and create a new batch.`,
        { param: 'batch_id' },
      );
  }
  for (const model of outcome.models) await database.notify(QUEUE_CHANNEL, model);
  deps.statusChanged([{ batchId: outcome.batchId, owner, from: null, to: 'in_progress' }]);
  const batch = await getBatch(database.db, outcome.batchId, owner);
  if (!batch) throw new Error(`retry: the new batch ${outcome.batchId} is missing`);
  return batch;
}
