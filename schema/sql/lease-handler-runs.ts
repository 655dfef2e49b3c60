import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

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
  after?: Readonly<Record<string, readonly string[]>>;
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
          and not exists (${earlierChange}) and not exists (${unfinishedBefore(after)})
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

/**
 * An earlier change's run of the same result and handler (candidate `c`) that is not done:
 * the runs of one result go in the order of its changes. A dead one no longer holds the next.
 */
const earlierChange = sql`select 1 from handler_runs e
  where c.annotation_seq is not null and e.annotation_seq is not null
    and e.batch_id = c.batch_id and e.line = c.line and e.handler = c.handler
    and e.annotation_seq < c.annotation_seq and e.status in ('queued', 'running')`;

/**
 * A run of a handler the candidate `c` runs after, for the same batch and event (the same
 * change, or both for the batch's final status), that has not succeeded or been skipped:
 * a dead one holds it until it is retried.
 */
function unfinishedBefore(after: Readonly<Record<string, readonly string[]>>) {
  const pairs = Object.entries(after).flatMap(([handler, before]) => before.map((first) => ({ handler, first })));
  return sql`select 1 from jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) as d(handler text, first text)
    join handler_runs a on a.batch_id = c.batch_id and a.handler = d.first
    where d.handler = c.handler
      and ((a.annotation_seq is null and c.annotation_seq is null) or a.annotation_seq = c.annotation_seq)
      and a.status not in ('succeeded', 'skipped')`;
}
