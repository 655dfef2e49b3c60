import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { finalizeBatch } from './finalize-batch.ts';

/** A status change of a batch, for the caller to publish. */
export interface BatchTransition {
  batchId: string;
  owner: string;
  from: string;
  to: string;
}

interface BatchState {
  owner: string;
  status: string;
  done: boolean;
  pastDue: boolean;
  staleFinalizing: boolean;
}

/** How long a batch may sit in `finalizing` before another process finishes the job. */
export const FINALIZE_STALE_SECONDS = 30;

const EXPIRED_ERROR = {
  code: 'batch_expired',
  message: 'This request could not be executed before the completion window expired.',
};
const CANCELLED_ERROR = { code: 'batch_cancelled', message: 'The batch was cancelled before this request was executed.' };

function readState(db: Executor, batchId: string) {
  return rows<BatchState>(
    db,
    sql`select owner, status,
          completed + failed >= total as "done",
          expires_at < now() as "pastDue",
          finalizing_at < now() - make_interval(secs => ${FINALIZE_STALE_SECONDS}) as "staleFinalizing"
        from batches where id = ${batchId}`,
  );
}

/**
 * Ends every queued request of a batch with the given status and error, and returns how many
 * are leased now. Counted after the update, not before: a worker may lease queued requests
 * until this statement takes them, and a batch finalized while they run would change under
 * its result files.
 */
async function endQueued(db: Executor, batchId: string, status: 'cancelled' | 'expired', error: object): Promise<number> {
  await db.execute(sql`
    update requests set status = ${status}, error = ${JSON.stringify(error)}::jsonb, finished_at = now(),
      lease_owner = null, lease_expires_at = null
    where batch_id = ${batchId} and status = 'queued'`);
  const [leased] = await rows<{ n: number }>(db, sql`select count(*)::int as n from requests where batch_id = ${batchId} and status = 'leased'`);
  return leased?.n ?? 0;
}

/**
 * Takes the one transition the batch's state calls for, if any, exactly once however
 * many processes call it at the same moment (each step is a conditional update):
 * - `in_progress` with every request answered: `finalizing`, then `completed`;
 * - `in_progress` past its completion window: queued requests `expired`, and once none
 *   is leased any more, the batch `expired`;
 * - `cancelling`: queued requests `cancelled`, and once none is leased, `cancelled`;
 * - `finalizing` for longer than {@link FINALIZE_STALE_SECONDS} (its finalizer died): `completed`.
 * Call it after anything that may finish a batch. Returns the transitions it made.
 */
export async function settleBatch(db: Executor, batchId: string): Promise<BatchTransition[]> {
  const [state] = await readState(db, batchId);
  if (!state) return [];
  const step = (from: string, to: string): BatchTransition => ({ batchId, owner: state.owner, from, to });

  if (state.status === 'in_progress' && state.done) {
    const won = await rows(
      db,
      sql`update batches set status = 'finalizing', finalizing_at = now()
          where id = ${batchId} and status = 'in_progress' returning id`,
    );
    if (won.length === 0) return [];
    const finished = await finalizeBatch(db, batchId, 'completed');
    return finished ? [step('in_progress', 'finalizing'), step('finalizing', 'completed')] : [step('in_progress', 'finalizing')];
  }
  if (state.status === 'finalizing' && state.staleFinalizing) {
    return (await finalizeBatch(db, batchId, 'completed')) ? [step('finalizing', 'completed')] : [];
  }
  if (state.status === 'in_progress' && state.pastDue) {
    if ((await endQueued(db, batchId, 'expired', EXPIRED_ERROR)) > 0) return [];
    return (await finalizeBatch(db, batchId, 'expired')) ? [step('in_progress', 'expired')] : [];
  }
  if (state.status === 'cancelling') {
    if ((await endQueued(db, batchId, 'cancelled', CANCELLED_ERROR)) > 0) return [];
    return (await finalizeBatch(db, batchId, 'cancelled')) ? [step('cancelling', 'cancelled')] : [];
  }
  return [];
}
