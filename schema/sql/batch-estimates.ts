import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** How far back finished requests count towards a model's observed throughput. */
export const THROUGHPUT_WINDOW_SECONDS = 300;

/** Where an unfinished batch stands in the queue, and when it should be done. */
export interface BatchEstimate {
  /** Unfinished batches that share a model with this one and are served before it (0: next or being served). */
  queuePosition: number;
  /** Milliseconds since the epoch, or null while nothing of its model(s) finished recently. */
  estimatedCompletionAtMs: number | null;
}

/**
 * Queue positions and estimated completion times of the given batches (those still
 * `validating` or `in_progress`; others get none). Batches ahead are the unfinished ones
 * served first (higher priority, or equal and older) that have requests of one of this
 * batch's models (any model while it is still validating). The estimate divides the requests
 * still to run, this batch's and those of the batches ahead (all of a mixed batch's, an
 * overestimate), by the requests of its model(s) finished per second over the last
 * {@link THROUGHPUT_WINDOW_SECONDS}.
 */
export async function batchEstimates(db: Executor, batchIds: readonly string[]): Promise<Map<string, BatchEstimate>> {
  const estimates = new Map<string, BatchEstimate>();
  if (batchIds.length === 0) return estimates;
  const found = await rows<{ id: string; position: number; ahead: number; remaining: number; finished: number; stalled: boolean; nowMs: number }>(
    db,
    sql`select b.id, ahead.batches as "position", ahead.requests as "ahead",
          (b.total - b.completed - b.failed)::float8 as "remaining", rate.finished as "finished", rate.stalled as "stalled",
          (extract(epoch from now()) * 1000)::float8 as "nowMs"
        from batches b
        cross join lateral (
          select case when b.model is not null then array[b.model]
                      else array(select distinct q.model from requests q where q.batch_id = b.id) end as list
        ) m
        cross join lateral (
          select count(*)::int as batches, coalesce(sum(o.total - o.completed - o.failed), 0)::float8 as requests
          from batches o
          where o.status = 'in_progress' and o.id <> b.id and o.total > o.completed + o.failed
            and (o.priority > b.priority or (o.priority = b.priority and (o.created_at, o.id) < (b.created_at, b.id)))
            and (cardinality(m.list) = 0 or o.model = any(m.list)
                 or (o.model is null and exists (
                       select 1 from requests r where r.batch_id = o.id and r.status = 'queued' and r.model = any(m.list))))
        ) ahead
        cross join lateral (
          select coalesce(sum(c.n), 0)::float8 as finished,
                 -- A model of the batch with queued requests and nothing finished lately: nobody may be serving it.
                 coalesce(bool_or(c.n = 0 and exists (
                   select 1 from requests q where q.batch_id = b.id and q.model = x.model and q.status = 'queued')), false) as stalled
          from unnest(m.list) as x(model)
          cross join lateral (
            select count(*) as n from requests r
            where r.model = x.model and r.finished_at > now() - make_interval(secs => ${THROUGHPUT_WINDOW_SECONDS})
          ) c
        ) rate
        where b.id in (${sql.join(batchIds.map((id) => sql`${id}`), sql`, `)}) and b.status in ('validating', 'in_progress')`,
  );
  for (const row of found) {
    const perSecond = row.finished / THROUGHPUT_WINDOW_SECONDS;
    estimates.set(row.id, {
      queuePosition: row.position,
      estimatedCompletionAtMs: perSecond > 0 && !row.stalled && row.remaining > 0 ? row.nowMs + ((row.ahead + row.remaining) / perSecond) * 1000 : null,
    });
  }
  return estimates;
}
