import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { HandlerRunStatus } from '../states/handler-run-status.ts';

/** Options for {@link failHandlerRun}. */
export interface FailHandlerRunOptions {
  id: number;
  owner: string;
  error: string;
  /** False ends the run `dead` at once, whatever attempts are left. */
  retryable: boolean;
  /** The earliest next attempt the destination asked for, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** The attempt was interrupted by its process stopping, not failed by the handler: it is not counted, so the run is queued again even after its last attempt. */
  refund?: boolean;
  /** Backoff: base * 2^(attempts - 1), capped at max, with ±25% jitter. */
  backoff: { baseMs: number; maxMs: number };
}

/**
 * Records a failed attempt of a run the owner holds: back to `queued` with exponential
 * backoff (computed in SQL from the attempt count), or `dead` with the error when the
 * attempts are used up or the failure is permanent. Returns the new status, or undefined
 * when the lease was lost.
 */
export async function failHandlerRun(
  db: Executor,
  { id, owner, error, retryable, retryAfterMs = 0, backoff, refund = false }: FailHandlerRunOptions,
) {
  const dead = refund ? sql`${!retryable}` : sql`(${!retryable} or attempts >= max_attempts)`;
  const [row] = await rows<{ status: Extract<HandlerRunStatus, 'queued' | 'dead'>; attempts: number }>(
    db,
    sql`update handler_runs
        set status = case when ${dead} then 'dead' else 'queued' end,
            attempts = attempts - ${refund ? 1 : 0},
            next_attempt_at = now() + make_interval(secs => greatest(
              ${retryAfterMs}::float8,
              least(${backoff.maxMs}::float8, ${backoff.baseMs}::float8 * power(2, attempts - 1)) * (0.75 + random() * 0.5)
            ) / 1000),
            finished_at = case when ${dead} then now() end,
            last_error = ${error}, lease_owner = null, lease_expires_at = null, updated_at = now()
        where id = ${id} and lease_owner = ${owner} and status = 'running'
        returning status, attempts`,
  );
  return row;
}
