import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { HANDLER_RUN_COLUMNS, toHandlerRunRow, type HandlerRunRow } from './handler-run-row.ts';

/** The NOTIFY channel on which new or re-queued handler runs are announced, so that idle runners look at once (a hint: they also poll). */
export const HANDLER_RUNS_CHANNEL = 'handler_runs';

/**
 * Re-queues a `dead` run of one of the owner's batches with a fresh set of attempts; its
 * checkpoint is kept, so the handler resumes. Returns the run as it is after the call
 * (unchanged when it was not dead), or undefined when the owner has no such run.
 */
export async function retryHandlerRun(db: Executor, { id, owner }: { id: number; owner: string }): Promise<{ run: HandlerRunRow; requeued: boolean } | undefined> {
  const [requeued] = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`update handler_runs h
        set status = 'queued', attempts = 0, next_attempt_at = now(), finished_at = null, updated_at = now()
        from batches b
        where h.id = ${id} and h.status = 'dead' and b.id = h.batch_id and b.owner = ${owner}
        returning ${HANDLER_RUN_COLUMNS}`,
  );
  if (requeued) return { run: toHandlerRunRow(requeued), requeued: true };
  const [current] = await rows<Parameters<typeof toHandlerRunRow>[0]>(
    db,
    sql`select ${HANDLER_RUN_COLUMNS} from handler_runs h join batches b on b.id = h.batch_id where h.id = ${id} and b.owner = ${owner}`,
  );
  return current && { run: toHandlerRunRow(current), requeued: false };
}
