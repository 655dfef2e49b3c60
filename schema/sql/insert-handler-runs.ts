import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/**
 * Creates one queued handler run per handler the batch asked for (the keys of
 * `batches.handlers`), for the event that finished it. Called inside the transaction
 * that gives the batch its final status, so a finished batch never lacks its runs.
 */
export async function insertHandlerRuns(tx: Executor, batchId: string, event: string): Promise<void> {
  await tx.execute(sql`
    insert into handler_runs (batch_id, handler, event)
    select id, jsonb_object_keys(handlers), ${event} from batches where id = ${batchId}
    on conflict (batch_id, handler) where annotation_seq is null do nothing`);
}
