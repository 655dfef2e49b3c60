import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { EARLIER_CHANGE_RUNS, unfinishedBeforeRuns, type HandlerOrder } from './handler-run-waits.ts';

/** A handler run as the runner receives it. */
export interface LeasedHandlerRun {
  id: number;
  batchId: string;
  handler: string;
  event: string;
  /** For `result.annotated`: the annotated line; otherwise null. */
  line: number | null;
  /** For `result.annotated`: the change's place in result_annotation_seq; otherwise null. */
  annotationSeq: number | null;
  /** For `result.annotated`: JSON text of the annotation as the change left it; otherwise null. */
  annotation: string | null;
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
  /**
   * The handlers each handler runs after (its definition's `after`), by name: a run waits
   * while a run of one of them for the same batch and event has not succeeded or been skipped.
   */
  after?: HandlerOrder;
}

/**
 * Claims due handler runs: queued ones whose next attempt is due, and running ones whose
 * lease expired (their process died), which then say so in `last_error`. Each claim is
 * an attempt. Runs whose attempts are used up are left to {@link reapHandlerRuns}.
 *
 * A run is not claimed while it must wait: for an earlier change's run of the same result
 * and handler, or for the runs of the handlers it runs `after`. Runners of one database may
 * hold different registries: each passes its own order.
 */
export async function leaseHandlerRuns(
  db: Executor,
  { owner, handlers, limit, leaseMs, after = {} }: LeaseHandlerRunsOptions,
): Promise<LeasedHandlerRun[]> {
  if (handlers.length === 0) return [];
  return rows<LeasedHandlerRun>(
    db,
    sql`
      with picked as (
        select c.id from handler_runs c
        where c.handler in (${sql.join(
          handlers.map((h) => sql`${h}`),
          sql`, `,
        )})
          and c.attempts < c.max_attempts
          and ((c.status = 'queued' and c.next_attempt_at <= now())
            or (c.status = 'running' and c.lease_expires_at < now()))
          and not exists (select 1 from ${EARLIER_CHANGE_RUNS})
          and not exists (select 1 from ${unfinishedBeforeRuns(after)})
        order by c.next_attempt_at, c.id
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
      returning h.id::float8 as "id", h.batch_id as "batchId", h.handler, h.event, h.line,
                h.annotation_seq::float8 as "annotationSeq", h.annotation::text as "annotation", h.attempts,
                h.max_attempts as "maxAttempts", h.checkpoint::text as "checkpoint"`,
  );
}
