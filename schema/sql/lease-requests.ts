import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** The NOTIFY channel that wakes idle workers when requests are queued; the payload is the model name. */
export const QUEUE_CHANNEL = 'vbs_queue';

/** How recent a worker's heartbeat must be for it to count as serving its models (the spread cap, the throughput). */
export const LIVE_WORKER_SECONDS = 30;

/** A request as a worker receives it from the queue. */
export interface LeasedRequest {
  id: number;
  batchId: string;
  line: number;
  customId: string;
  model: string;
  body: string;
  /** Leases of its range, this one included. */
  attempts: number;
  /** The range it was leased with: heartbeats, releases and result writes name it. */
  rangeId: number;
}

/** Options for {@link leaseRequests}. */
export interface LeaseRequestsOptions {
  owner: string;
  model: string;
  /** Lines wanted; whole ranges are taken, so up to one range more may come back (and always one range when any is free). */
  limit: number;
  leaseMs: number;
}

/**
 * Claims whole open ranges of one model in one statement and returns their requests that
 * have no result yet, best batch first, in line order. Nothing per request is written.
 *
 * Batches are ranked by priority (strict), then fair share (the lines the batch's owner
 * holds leased in this model over its weight in `owner_weights`, fewest first), then
 * deadline slack (seconds to `expires_at` minus the batch's open lines over the model's
 * throughput, the summed `completion_rate` of live workers), then creation order. Ranges are
 * taken from the best batches until they hold `limit` lines. A worker holds at most
 * ceil(batch lines / live workers) open lines of one batch, unless it holds none of it: a
 * 30-line batch cut into 30 ranges spreads over 8 workers instead of going to the first.
 * The ranges are locked with SKIP LOCKED in rank order, so concurrent leases pass each other.
 */
export function leaseRequests(db: Executor, options: LeaseRequestsOptions) {
  return rows<LeasedRequest>(db, leaseRequestsSql(options));
}

/** The statement of {@link leaseRequests}, for EXPLAIN. */
export function leaseRequestsSql({ owner, model, limit, leaseMs }: LeaseRequestsOptions) {
  const open = sql`(g.size - g.succeeded - g.failed)`;
  return sql`
      with live as (
        select count(*)::int as workers, coalesce(sum(w.completion_rate), 0)::float8 as rate
        from workers w
        where w.heartbeat_at > now() - make_interval(secs => ${LIVE_WORKER_SECONDS}) and w.status in ('ready', 'starting')
          and (w.model = ${model} or w.engine_models @> ${JSON.stringify([{ id: model }])}::jsonb)
      ), queued as (
        select g.batch_id, max(g.priority) as priority
        from request_ranges g
        where g.model = ${model} and g.lease_owner is null and g.finished_at is null
        group by g.batch_id
      ), candidates as (
        select b.id, b.seq, b.owner, q.priority, b.expires_at, s.lines, s.remaining, s.mine
        from queued q
        join batches b on b.id = q.batch_id
        cross join lateral (
          select sum(g.size)::float8 as lines,
                 coalesce(sum(${open}) filter (where g.finished_at is null), 0)::float8 as remaining,
                 coalesce(sum(${open}) filter (where g.finished_at is null and g.lease_owner = ${owner}), 0)::float8 as mine
          from request_ranges g where g.batch_id = b.id and g.model = ${model}
        ) s
        where b.status = 'in_progress' and b.expires_at > now()
      ), held as (
        select g.owner, sum(${open})::float8 as lines
        from request_ranges g
        where g.lease_owner is not null and g.finished_at is null and g.model = ${model}
          and g.owner in (select owner from candidates)
        group by g.owner
      ), ranked as materialized (
        select c.id, c.mine, greatest(1, ceil(c.lines / greatest(1, l.workers))) as cap,
               row_number() over (order by
                 c.priority desc,
                 coalesce(h.lines, 0) / coalesce(ow.weight, 1),
                 extract(epoch from c.expires_at - now()) - coalesce(c.remaining / nullif(l.rate, 0), 0),
                 c.seq) as rank
        from candidates c
        cross join live l
        left join held h on h.owner = c.owner
        left join owner_weights ow on ow.owner = c.owner
      ), fit as (
        select g.id, g.first_line, ${open} as lines, r.rank, r.mine, r.cap,
               row_number() over per_batch as n, sum(${open}) over per_batch as cum
        from request_ranges g join ranked r on r.id = g.batch_id
        where g.model = ${model} and g.lease_owner is null and g.finished_at is null
        window per_batch as (partition by g.batch_id order by g.first_line)
      ), allowed as materialized (
        select f.id, f.first_line, f.lines, f.rank, sum(f.lines) over (order by f.rank, f.first_line) as cum
        from fit f
        where (f.mine = 0 and f.n = 1) or f.mine + f.cum <= f.cap
      ), locked as materialized (
        -- As many ranges as the lease needs when none is taken; a range locked by another lease is passed over for the next allowed one.
        select g.id, a.first_line, a.lines, a.rank
        from request_ranges g join allowed a on a.id = g.id
        where g.lease_owner is null and g.finished_at is null
        order by a.rank, a.first_line
        limit (select count(*) from allowed where cum - lines < ${limit})
        for update of g skip locked
      ), picked as (
        select id from (select l.id, l.lines, sum(l.lines) over (order by l.rank, l.first_line) as cum from locked l) x
        where x.cum - x.lines < ${limit}
      ), claimed as (
        update request_ranges g
        set lease_owner = ${owner},
            lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
            attempts = g.attempts + 1
        from picked p
        where g.id = p.id
        returning g.id, g.batch_id, g.model, g.first_line, g.last_line, g.attempts
      )
      select r.id::float8 as "id", r.batch_id as "batchId", r.line, r.custom_id as "customId",
             r.model, r.body, c.attempts, c.id::float8 as "rangeId"
      from claimed c
      join ranked k on k.id = c.batch_id
      join requests r on r.batch_id = c.batch_id and r.model = c.model and r.line between c.first_line and c.last_line
      where not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
      order by k.rank, r.line`;
}
