import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/**
 * Ends as `dead` the runs left `running` by a dead process whose attempts are used up
 * (the others are leased again). Returns their ids.
 */
export async function reapHandlerRuns(db: Executor): Promise<number[]> {
  const reaped = await rows<{ id: number }>(
    db,
    sql`update handler_runs
        set status = 'dead', finished_at = now(), updated_at = now(), lease_owner = null, lease_expires_at = null,
            last_error = 'attempt ' || attempts || ' of ' || max_attempts || ' did not finish: the process running it stopped (its lease expired)'
        where status = 'running' and lease_expires_at < now() and attempts >= max_attempts
        returning id::float8 as "id"`,
  );
  return reaped.map((r) => r.id);
}
