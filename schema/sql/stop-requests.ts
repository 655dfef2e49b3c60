import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_STOP } from './batch-stop.ts';
import { idArray, mineLockedInIdOrder } from './own-leases.ts';

/**
 * Gives back the ranges among `rangeIds` that `owner` holds and whose batch is stopping
 * (cancelling, over its error budget, or past its completion window): the worker has aborted
 * their streams. They become unleased with the attempt kept; no batch leases them again, and
 * settling the batch (the caller's next step, once none of its ranges is leased) writes the
 * `cancelled` or `expired` results of their lines that have none. Returns the ids of the batches touched.
 * The rows are locked in id order first, as the worker's result writes and heartbeats lock
 * them, so that none of them deadlock.
 */
export async function stopRequests(db: Executor, owner: string, rangeIds: readonly number[]): Promise<string[]> {
  if (rangeIds.length === 0) return [];
  const touched = await rows<{ batchId: string }>(
    db,
    sql`
      with ${mineLockedInIdOrder(owner, idArray([...new Set(rangeIds)]))}, stopped as (
        update request_ranges g
        set lease_owner = null, lease_expires_at = null
        from mine m, batches b
        where g.id = m.id and b.id = g.batch_id
          and ${BATCH_STOP} is not null
        returning g.batch_id
      )
      select distinct batch_id as "batchId" from stopped order by 1`,
  );
  return touched.map((t) => t.batchId);
}
