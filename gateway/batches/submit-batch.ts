import { AppError } from '../../core/errors.ts';
import { createBatch, getFile, newId, type BatchRow } from '../../schema/index.ts';
import { retentionSeconds } from '../files/expires-after.ts';
import type { AppDeps } from '../app-deps.ts';
import { withinQueuedLimit } from '../quotas/queued-limit.ts';
import { VALIDATION_LEASE_SECONDS } from './batch-validator.ts';
import { windowSeconds, type BatchSpec } from './batch-spec.ts';

/**
 * Creates a batch in `validating` from an uploaded file and starts validating it in the
 * background; returns at once, as OpenAI does. The batch's validation lease is taken in
 * the same insert, so if this gateway dies another one picks the batch up.
 */
export async function submitBatch(
  deps: AppDeps,
  owner: string,
  spec: BatchSpec,
  handlers: Record<string, unknown> = {},
): Promise<BatchRow> {
  const { database, validator } = deps;
  const file = await getFile(database.db, spec.inputFileId, owner);
  if (!file) {
    throw new AppError('NOT_FOUND', `No file with id ${spec.inputFileId}; upload it first (POST /v1/files with purpose "batch").`, {
      param: 'input_file_id',
    });
  }
  if (file.purpose !== 'batch') {
    throw new AppError(
      'BAD_REQUEST',
      `File ${file.id} has purpose "${file.purpose}"; a batch needs a file uploaded with purpose "batch".`,
      { param: 'input_file_id' },
    );
  }
  // Over the owner's limit of queued requests, the batch is rolled back and the caller gets a 429.
  const batch = await withinQueuedLimit(deps, owner, (db) =>
    createBatch(db, {
      id: newId('batch_'),
      owner,
      endpoint: spec.endpoint,
      inputFileId: file.id,
      completionWindow: spec.completionWindow,
      completionWindowSeconds: windowSeconds(spec.completionWindow),
      metadata: spec.metadata,
      priority: spec.priority,
      // FILE_RETENTION_DAYS as in force now: the fleet finalizes the batch, and does not read the gateway's setting.
      outputExpiresAfter: spec.outputExpiresAfter ?? retentionSeconds(deps.config.FILE_RETENTION_DAYS),
      handlers,
      budget: {
        maxFailedRequests: spec.maxFailedRequests,
        maxFailureRatio: spec.maxFailureRatio,
        minRequestsForRatio: spec.minRequestsForRatio,
      },
      validationOwner: validator.id,
      validationLeaseSeconds: VALIDATION_LEASE_SECONDS,
    }),
  );
  deps.statusChanged([{ batchId: batch.id, owner, from: null, to: 'validating' }]);
  validator.validate({ id: batch.id, owner, endpoint: batch.endpoint, inputFileId: file.id, priority: batch.priority, attempts: 1 });
  return batch;
}
