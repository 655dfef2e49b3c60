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
  leased: number;
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
          finalizing_at < now() - make_interval(secs => ${FINALIZE_STALE_SECONDS}) as "staleFinalizing",
          (select count(*)::int from requests where batch_id = ${batchId} and status = 'leased') as "leased"
        from batches where id = ${batchId}`,
  );
}

/** Ends every queued request of a batch with the given status and error. */
function endQueued(db: Executor, batchId: string, status: 'cancelled' | 'expired', error: object) {
  return db.execute(sql`
    update requests set status = ${status}, error = ${JSON.stringify(error)}::jsonb, finished_at = now(),
      lease_owner = null, lease_expires_at = null
    where batch_id = ${batchId} and status = 'queued'`);
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
    await endQueued(db, batchId, 'expired', EXPIRED_ERROR);
    if (state.leased > 0) return [];
    return (await finalizeBatch(db, batchId, 'expired')) ? [step('in_progress', 'expired')] : [];
  }
  if (state.status === 'cancelling') {
    await endQueued(db, batchId, 'cancelled', CANCELLED_ERROR);
    if (state.leased > 0) return [];
    return (await finalizeBatch(db, batchId, 'cancelled')) ? [step('cancelling', 'cancelled')] : [];
  }
  return [];
}
