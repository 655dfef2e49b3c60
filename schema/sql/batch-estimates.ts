import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus } from '../states/batch-status.ts';
import { sqlList } from '../states/sql-list.ts';
import { servesModel } from './lease-requests.ts';
import { COMPLETED, FAILED, RANGE_SUMS } from './range-sums.ts';

/** The statuses of a batch that waits for or holds GPUs: validating, then in progress. */
const QUEUED_STATUSES = ['validating', 'in_progress'] as const satisfies readonly BatchStatus[];

/** Where an unfinished batch stands in the queue, and when it should be done. */
export interface BatchEstimate {
  /** Unfinished batches that share a model with this one and are served before it (0: next or being served). */
  queuePosition: number;
  /** Milliseconds since the epoch, or null while no live worker of its model(s) reports finishing requests. */
  estimatedCompletionAtMs: number | null;
}

/** A live worker serving model `x.model`, as the lease counts it (alias `w`). */
const SERVES = servesModel(sql`x.model`);

/**
 * Queue positions and estimated completion times of the given batches (those still
 * `validating` or `in_progress`; others get none). Batches ahead are the unfinished ones
 * served first (higher priority, or equal and older) that have requests of one of this
 * batch's models (any model while it is still validating). A paused batch is out of the
 * queue: it is ahead of no one, and gets neither a position nor an estimate until it is
 * resumed. The estimate divides the requests still to run, this batch's and those of the
 * batches ahead (all of a mixed batch's, an overestimate), by the fleet's observed throughput
 * for its model(s): the requests per second that the live workers serving them report
 * finishing (`workers.completion_rate`, the figure the lease's deadline order uses too).
 */
export async function batchEstimates(db: Executor, batchIds: readonly string[]): Promise<Map<string, BatchEstimate>> {
  const estimates = new Map<string, BatchEstimate>();
  if (batchIds.length === 0) return estimates;
  const found = await rows<{
    id: string;
    position: number;
    ahead: number;
    remaining: number;
    perSecond: number;
    stalled: boolean;
    nowMs: number;
  }>(
    db,
    sql`select b.id, ahead.batches as "position", ahead.requests as "ahead",
          (b.total - ${COMPLETED} - ${FAILED})::float8 as "remaining", rate.per_second as "perSecond", rate.stalled as "stalled",
          (extract(epoch from now()) * 1000)::float8 as "nowMs"
        from batches b ${RANGE_SUMS}
        cross join lateral (
          select case when b.model is not null then array[b.model]
                      else array(select distinct g.model from request_ranges g where g.batch_id = b.id) end as list
        ) m
        cross join lateral (
          select count(*)::int as batches, coalesce(sum(o.total - os.done), 0)::float8 as requests
          from batches o
          cross join lateral (
            select o.completed + o.failed + coalesce(sum(g.succeeded + g.failed), 0) as done,
                   coalesce(bool_or(g.lease_owner is null and g.finished_at is null and g.model = any(m.list)), false) as queued
            from request_ranges g where g.batch_id = o.id
          ) os
          where o.status = 'in_progress' and o.paused_at is null and o.id <> b.id and o.total > os.done
            and (o.priority > b.priority or (o.priority = b.priority and (o.created_at, o.id) < (b.created_at, b.id)))
            and (cardinality(m.list) = 0 or o.model = any(m.list) or (o.model is null and os.queued))
        ) ahead
        cross join lateral (
          select (select coalesce(sum(w.completion_rate), 0) from workers w
                  where exists (select 1 from unnest(m.list) as x(model) where ${SERVES}))::float8 as per_second,
                 -- A model of the batch with queued requests and no throughput: nobody may be serving it.
                 coalesce(bool_or(
                   not exists (select 1 from workers w where ${SERVES} and w.completion_rate > 0)
                   and exists (select 1 from request_ranges g
                               where g.batch_id = b.id and g.model = x.model and g.lease_owner is null and g.finished_at is null)), false) as stalled
          from unnest(m.list) as x(model)
        ) rate
        where b.id in (${sql.join(
          batchIds.map((id) => sql`${id}`),
          sql`, `,
        )}) and b.status in ${sqlList(QUEUED_STATUSES)} and b.paused_at is null`,
  );
  for (const row of found) {
    estimates.set(row.id, {
      queuePosition: row.position,
      estimatedCompletionAtMs:
        row.perSecond > 0 && !row.stalled && row.remaining > 0 ? row.nowMs + ((row.ahead + row.remaining) / row.perSecond) * 1000 : null,
    });
  }
  return estimates;
}
