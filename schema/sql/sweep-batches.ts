import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatusChange } from '../states/batch-status.ts';
import { FINALIZE_STALE_SECONDS, settleBatch } from './settle-batch.ts';

/**
 * Settles the batches that time, not a result, has moved on: past their completion
 * window, stuck in `finalizing` after a crash, or `cancelling` (or stopping over their error
 * budget) with no range leased any more (their workers stopped, died and were reaped, or gave
 * their ranges back). Any live fleet process runs it every few seconds.
 */
export async function sweepBatches(db: Executor, limit = 100): Promise<BatchStatusChange[]> {
  const due = await rows<{ id: string }>(
    db,
    sql`select id from batches b
        where (b.status = 'in_progress' and b.expires_at < now())
           or (b.status = 'finalizing' and b.finalizing_at < now() - make_interval(secs => ${FINALIZE_STALE_SECONDS}))
           or ((b.status = 'cancelling' or (b.status = 'in_progress' and b.budget_exceeded_at is not null))
               and not exists (select 1 from request_ranges g where g.batch_id = b.id and g.finished_at is null and g.lease_owner is not null))
        limit ${limit}`,
  );
  const transitions: BatchStatusChange[] = [];
  for (const { id } of due) transitions.push(...(await settleBatch(db, id)));
  return transitions;
}
