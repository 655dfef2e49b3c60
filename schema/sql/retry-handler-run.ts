import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { HANDLER_RUN_COLUMNS, toHandlerRunRow, type HandlerRunRow } from './handler-run-row.ts';

/** The NOTIFY channel on which new or re-queued handler runs are announced, so that idle runners look at once (a hint: they also poll). */
export const HANDLER_RUNS_CHANNEL = 'handler_runs';

/** What {@link retryHandlerRun} did: `resultsPurged` when the run stayed dead because its batch's results are gone. */
export interface RetryHandlerRunOutcome {
  run: HandlerRunRow;
  requeued: boolean;
  resultsPurged: boolean;
}

/**
 * Re-queues a `dead` run of one of the owner's batches with a fresh set of attempts; its
 * checkpoint is kept, so the handler resumes. Not once the expiry sweep has purged the
 * batch's results: the handler would read an `unknown_error` line for every request (and
 * postgresInsert would overwrite the good rows it wrote). Returns the run as it is after the
 * call (unchanged when it was not requeued), or undefined when the owner has no such run.
 */
export async function retryHandlerRun(
  db: Executor,
  { id, owner }: { id: number; owner: string },
): Promise<RetryHandlerRunOutcome | undefined> {
  const [requeued] = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`update handler_runs h
        set status = 'queued', attempts = 0, next_attempt_at = now(), finished_at = null, updated_at = now()
        from batches b
        where h.id = ${id} and h.status = 'dead' and b.id = h.batch_id and b.owner = ${owner} and b.results_purged_at is null
        returning ${HANDLER_RUN_COLUMNS}`,
  );
  if (requeued) return { run: toHandlerRunRow(requeued), requeued: true, resultsPurged: false };
  const [current] = await rows<Parameters<typeof toHandlerRunRow>[0] & { resultsPurged: boolean }>(
    db,
    sql`select ${HANDLER_RUN_COLUMNS}, b.results_purged_at is not null as "resultsPurged"
        from handler_runs h join batches b on b.id = h.batch_id where h.id = ${id} and b.owner = ${owner}`,
  );
  return current && { run: toHandlerRunRow(current), requeued: false, resultsPurged: current.resultsPurged };
}
