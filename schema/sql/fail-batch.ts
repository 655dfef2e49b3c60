import { sql } from 'drizzle-orm';
import type { BatchErrorItem } from '../tables/batches.ts';
import { rows, type Executor } from '../db.ts';
import { insertHandlerRuns } from './insert-handler-runs.ts';

/**
 * Fails a batch whose input did not validate: `failed` with every error, and its handler
 * runs, in one transaction. Only a batch still `validating` can fail this way; returns
 * false otherwise (it was cancelled meanwhile, or another validator finished it).
 */
export async function failBatch(db: Executor, batchId: string, errors: BatchErrorItem[]): Promise<boolean> {
  return db.transaction(async (tx) => {
    const updated = await rows<{ id: string }>(
      tx,
      sql`update batches set status = 'failed', failed_at = now(), errors = ${JSON.stringify(errors)}::jsonb,
            validation_owner = null, validation_expires_at = null
          where id = ${batchId} and status = 'validating' returning id`,
    );
    if (updated.length === 0) return false;
    await insertHandlerRuns(tx, batchId, 'failed');
    return true;
  });
}
