import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { HandlerRunStatus } from '../states/handler-run-status.ts';

/** Options for {@link finishHandlerRun}. */
export interface FinishHandlerRunOptions {
  id: number;
  owner: string;
  /** `succeeded`, or `skipped` when the handler does not run for the batch's event. */
  status: Extract<HandlerRunStatus, 'succeeded' | 'skipped'>;
  /** What the handler returned (JSON), or why it was skipped. */
  result?: unknown;
}

/** Ends a run the owner holds; false when the lease was lost meanwhile (another process owns the run now). */
export async function finishHandlerRun(db: Executor, { id, owner, status, result = null }: FinishHandlerRunOptions): Promise<boolean> {
  const done = await rows<{ id: number }>(
    db,
    sql`update handler_runs
        set status = ${status}, result = ${JSON.stringify(result ?? null)}::jsonb, finished_at = now(), updated_at = now(),
            lease_owner = null, lease_expires_at = null
        where id = ${id} and lease_owner = ${owner} and status = 'running'
        returning id::float8 as "id"`,
  );
  return done.length > 0;
}
