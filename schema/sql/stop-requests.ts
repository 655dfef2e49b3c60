import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { idArray, mineLockedInIdOrder } from './own-leases.ts';

/**
 * Ends in-flight requests of stopping batches (the worker has aborted their streams):
 * `cancelled` with `batch_cancelled` for a cancelling batch, `expired` with
 * `batch_expired` for one past its window. Guarded by the lease owner. Returns the ids of
 * the batches touched, for the caller to settle. The rows are locked in id order first,
 * as the worker's result writes and heartbeats lock them, so that none of them deadlock.
 */
export async function stopRequests(db: Executor, owner: string, ids: readonly number[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const touched = await rows<{ batchId: string }>(
    db,
    sql`
      with ${mineLockedInIdOrder(owner, idArray(ids))}, stopped as (
        update requests r
        set status = case when b.status in ('cancelling', 'cancelled') then 'cancelled' else 'expired' end,
            error = case when b.status in ('cancelling', 'cancelled')
              then '{"code":"batch_cancelled","message":"The batch was cancelled while this request was running; its stream was aborted."}'::jsonb
              else '{"code":"batch_expired","message":"The completion window expired while this request was running; its stream was aborted."}'::jsonb end,
            finished_at = now(), lease_expires_at = null
        from batches b, mine m
        where b.id = r.batch_id and r.id = m.id
          and (b.status in ('cancelling', 'cancelled', 'expired') or b.expires_at < now())
        returning r.batch_id
      )
      select distinct batch_id as "batchId" from stopped`,
  );
  return touched.map((t) => t.batchId);
}
