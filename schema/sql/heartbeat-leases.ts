import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_STOP, type BatchStop } from './batch-stop.ts';
import { idArray, mineLockedInIdOrder } from './own-leases.ts';

/** A range lease the heartbeat extended; `stop` says its batch is stopping and why. */
export interface HeldLease {
  /** The range's id. */
  id: number;
  stop: BatchStop | null;
}

/**
 * Extends the range leases `owner` still holds among `ids` (range ids) by `leaseMs` in one
 * statement and returns them, each marked when its batch is stopping (cancelling, over its error
 * budget, or past its completion window), so the worker aborts those streams. A range the worker believes it holds but that
 * is not returned was taken from it (its lease expired and was reaped) or has finished; its
 * requests still running should be dropped. Only the named ranges are extended: a range the
 * worker lost track of runs out and is reaped. The rows are locked in id order first, as the
 * worker's result writes lock them: two statements taking the same rows in different orders
 * deadlock.
 */
export function heartbeatLeases(db: Executor, { owner, leaseMs, ids }: { owner: string; leaseMs: number; ids: readonly number[] }) {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<HeldLease>(
    db,
    sql`
      with ${mineLockedInIdOrder(owner, idArray([...new Set(ids)]))}, extended as (
        update request_ranges g set lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000})
        from mine m
        where g.id = m.id
        returning g.id, g.batch_id
      )
      select e.id::float8 as "id", ${BATCH_STOP} as "stop"
      from extended e left join batches b on b.id = e.batch_id
      order by e.id`,
  );
}
