import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { batchStatusesBefore, type BatchStatus, type BatchStatusChange } from '../states/batch-status.ts';
import { sqlList } from '../states/sql-list.ts';
import { settleBatch } from './settle-batch.ts';

/** The NOTIFY channel that tells workers a batch is stopping, so they abort its streams at once. */
export const CANCEL_CHANNEL = 'vbs_cancel';

/** What {@link cancelBatch} did. */
export type CancelOutcome =
  | { kind: 'not_found' }
  | { kind: 'not_cancellable'; status: BatchStatus }
  | { kind: 'cancelling'; transitions: BatchStatusChange[] };

/** The statuses a cancel applies to: those `cancelling` is taken from, and `cancelling` itself (cancelling again settles again). */
const CANCELLABLE = [...batchStatusesBefore('cancelling'), 'cancelling'] as const;

/**
 * Cancels a batch of the given owner: `cancelling`, its queued requests `cancelled`, and
 * `cancelled` as soon as no request is in flight (workers abort theirs when they next
 * heartbeat; the caller should NOTIFY {@link CANCEL_CHANNEL} to make that immediate).
 * Cancelling a batch that is already cancelling is not an error: it settles again.
 */
export async function cancelBatch(db: Executor, batchId: string, owner: string): Promise<CancelOutcome> {
  const [changed] = await rows<{ previous: (typeof CANCELLABLE)[number] }>(
    db,
    sql`update batches b set status = 'cancelling', cancelling_at = coalesce(b.cancelling_at, now())
        from (select id, status as previous from batches where id = ${batchId} and owner = ${owner} for update) old
        where b.id = old.id and b.status in ${sqlList(CANCELLABLE)}
        returning old.previous`,
  );
  if (!changed) {
    const [current] = await rows<{ status: BatchStatus }>(db, sql`select status from batches where id = ${batchId} and owner = ${owner}`);
    return current ? { kind: 'not_cancellable', status: current.status } : { kind: 'not_found' };
  }
  const transitions: BatchStatusChange[] =
    changed.previous === 'cancelling' ? [] : [{ batchId, owner, from: changed.previous, to: 'cancelling' }];
  transitions.push(...(await settleBatch(db, batchId)));
  return { kind: 'cancelling', transitions };
}
