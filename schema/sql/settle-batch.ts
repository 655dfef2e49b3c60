import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus, BatchStatusChange } from '../states/batch-status.ts';
import { BATCH_STOP, STOPPED_LINES, type BatchStop } from './batch-stop.ts';
import { cutRanges } from './cut-ranges.ts';
import { markBudgetExceeded, OVER_BUDGET, tooManyFailures } from './error-budget.ts';
import { finalizeBatch } from './finalize-batch.ts';
import { COMPLETED, FAILED, RANGE_SUMS } from './range-sums.ts';

interface BatchState {
  owner: string;
  status: BatchStatus;
  /** Some range of the batch is open: it has lines still to run. */
  open: boolean;
  /** Every line succeeded or failed (cancelled and expired lines are not counted). */
  answered: boolean;
  /** Why the batch is stopping ({@link BATCH_STOP}), or null. */
  stop: BatchStop | null;
  /** It has just gone over its error budget ({@link OVER_BUDGET}): not yet recorded. */
  overBudget: boolean;
  staleFinalizing: boolean;
}

/** How long a batch may sit in `finalizing` before another process finishes the job. */
export const FINALIZE_STALE_SECONDS = 30;

function readState(db: Executor, batchId: string) {
  return rows<BatchState>(
    db,
    sql`select b.owner, b.status,
          exists (select 1 from request_ranges g where g.batch_id = b.id and g.finished_at is null) as "open",
          ${COMPLETED} + ${FAILED} >= b.total as "answered",
          ${BATCH_STOP} as "stop", ${OVER_BUDGET} as "overBudget",
          b.finalizing_at < now() - make_interval(secs => ${FINALIZE_STALE_SECONDS}) as "staleFinalizing"
        from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
  );
}

/**
 * Ends the lines of a stopping batch that no worker holds: each open, unleased range is
 * finished and its lines without a result get the state and error its stop gives them
 * ({@link STOPPED_LINES}; not counted in the range's `failed`, as the previous release did not
 * count them either).
 * Returns how many open ranges are left, leased or not, counted after the update: a worker may
 * lease a range until this statement locks it (it is then skipped here, and its worker's
 * heartbeat stops it), or return one right after (the next settle, or the sweep, ends it);
 * either way the batch must not be finalized while its result files could still change.
 * The ranges are locked in id order, as the workers' statements lock them, so none deadlock.
 */
async function endQueued(db: Executor, batchId: string, stop: BatchStop): Promise<number> {
  const { state, error } = STOPPED_LINES[stop];
  await db.execute(sql`
    with free as (
      select g.id from request_ranges g
      where g.batch_id = ${batchId} and g.finished_at is null and g.lease_owner is null
      order by g.id
      for no key update
    ), ended as (
      update request_ranges g set finished_at = now()
      from free f where g.id = f.id
      returning g.batch_id, g.model, g.first_line, g.last_line, g.attempts
    )
    insert into results (batch_id, line, status, error, attempts)
    select r.batch_id, r.line, ${state}, ${JSON.stringify(error)}::jsonb, e.attempts
    from ended e
    join requests r on r.batch_id = e.batch_id and r.model = e.model and r.line between e.first_line and e.last_line
    on conflict do nothing`);
  const [open] = await rows<{ n: number }>(
    db,
    sql`select count(*)::int as n from request_ranges where batch_id = ${batchId} and finished_at is null`,
  );
  return open?.n ?? 0;
}

/**
 * Cuts into ranges the lines of a batch that have no result and no open range: nothing would
 * ever run them, nor end them when the batch stops (a path that queued requests without cutting
 * them, such as a previous release's gateway still running after the upgrade). Under the batch
 * row's lock, so that two settles at once do not cut the same lines twice.
 */
async function cutStranded(db: Executor, batchId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from batches where id = ${batchId} for update`);
    await cutRanges(tx, batchId);
  });
}

/**
 * Takes the one transition the batch's state calls for, if any, exactly once however
 * many processes call it at the same moment (each step is a conditional update):
 * - `in_progress` with every request answered (succeeded or failed) and no open range left:
 *   `finalizing`, then `completed`;
 * - `in_progress` over its error budget (found now, or recorded before): the budget recorded,
 *   the lines of unleased ranges `cancelled` with code `batch_failed`, and once no range is
 *   leased any more, the batch `failed` with a `too_many_failures` error;
 * - `in_progress` past its completion window: the lines of unleased ranges `expired`, and
 *   once no range is leased any more, the batch `expired`;
 * - `cancelling`: the lines of unleased ranges `cancelled`, and once no range is leased, `cancelled`;
 * - `finalizing` for longer than {@link FINALIZE_STALE_SECONDS} (its finalizer died): `completed`.
 * Lines that have no result and no open range are cut into ranges first, so that the fleet
 * runs them, or the stop ends them.
 * Call it after anything that may finish a batch. Returns the transitions it made.
 */
export async function settleBatch(db: Executor, batchId: string): Promise<BatchStatusChange[]> {
  const [state] = await readState(db, batchId);
  if (!state) return [];
  const step = (from: BatchStatus, to: BatchStatus): BatchStatusChange => ({ batchId, owner: state.owner, from, to });

  // Found over its budget (with its last results too: it fails rather than completes). When
  // another process recorded it first, or the batch moved on meanwhile, read it again.
  if (state.overBudget && !state.stop) {
    if (!(await markBudgetExceeded(db, batchId))) return settleBatch(db, batchId);
    state.stop = 'failed';
  }
  // Answered and no open range, rather than either alone: a batch past its window whose last
  // range finished after the others were expired has no open range, yet it expired.
  if (state.status === 'in_progress' && state.answered && !state.open && state.stop !== 'failed') {
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
  if ((state.status === 'in_progress' || state.status === 'cancelling') && !state.open && !state.answered) await cutStranded(db, batchId);
  // A cancelling batch is always stopping (`cancelled`); one in progress stops over its error budget (`failed`) or when its window ends (`expired`).
  if ((state.status !== 'in_progress' && state.status !== 'cancelling') || !state.stop) return [];
  if ((await endQueued(db, batchId, state.stop)) > 0) return [];
  const errors = state.stop === 'failed' ? [await tooManyFailures(db, batchId)] : undefined;
  return (await finalizeBatch(db, batchId, state.stop, errors)) ? [step(state.status, state.stop)] : [];
}
