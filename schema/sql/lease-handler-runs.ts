import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** A handler run as the runner receives it. */
export interface LeasedHandlerRun {
  id: number;
  batchId: string;
  handler: string;
  event: string;
  attempts: number;
  maxAttempts: number;
  /** JSON text of what the previous attempt saved, or null. */
  checkpoint: string | null;
}

/** Options for {@link leaseHandlerRuns}. */
export interface LeaseHandlerRunsOptions {
  owner: string;
  /** Only runs of these handlers (the ones installed in the leasing process). */
  handlers: string[];
  limit: number;
  leaseMs: number;
}

/**
 * Claims due handler runs: queued ones whose next attempt is due, and running ones whose
 * lease expired (their process died), which then say so in `last_error`. Each claim is
 * an attempt. Runs whose attempts are used up are left to {@link reapHandlerRuns}.
 */
export async function leaseHandlerRuns(
  db: Executor,
  { owner, handlers, limit, leaseMs }: LeaseHandlerRunsOptions,
): Promise<LeasedHandlerRun[]> {
  if (handlers.length === 0) return [];
  return rows<LeasedHandlerRun>(
    db,
    sql`
      with picked as (
        select id from handler_runs
        where handler in (${sql.join(
          handlers.map((h) => sql`${h}`),
          sql`, `,
        )})
          and attempts < max_attempts
          and ((status = 'queued' and next_attempt_at <= now())
            or (status = 'running' and lease_expires_at < now()))
        order by next_attempt_at, id
        limit ${limit}
        for update skip locked
      )
      update handler_runs h
      set status = 'running',
          lease_owner = ${owner},
          lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
          attempts = h.attempts + 1,
          last_error = case when h.status = 'running'
            then 'attempt ' || h.attempts || ' did not finish: the process running it stopped (its lease expired)'
            else h.last_error end,
          updated_at = now()
      from picked
      where h.id = picked.id
      returning h.id::float8 as "id", h.batch_id as "batchId", h.handler, h.event, h.attempts,
                h.max_attempts as "maxAttempts", h.checkpoint::text as "checkpoint"`,
  );
}
