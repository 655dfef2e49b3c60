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
  const queuedRange = sql`g.model = ${model} and g.lease_owner is null and g.finished_at is null`;
  return sql`
      with recursive live as (
        select count(*)::int as workers, coalesce(sum(w.completion_rate), 0)::float8 as rate
        from workers w
        where w.heartbeat_at > now() - make_interval(secs => ${LIVE_WORKER_SECONDS}) and w.status in ('ready', 'starting')
          and (w.model = ${model} or w.engine_models @> ${JSON.stringify([{ id: model }])}::jsonb)
      ), queued (priority, batch_id) as (
        -- The batches with queued ranges of the model: a loose scan of request_ranges_queue_idx, one probe per batch instead of one row per range.
        (select g.priority, g.batch_id from request_ranges g where ${queuedRange}
         order by g.priority desc nulls last, g.batch_id limit 1)
        union all
        select n.priority, n.batch_id from queued q cross join lateral (
          (select g.priority, g.batch_id from request_ranges g where ${queuedRange} and g.priority = q.priority and g.batch_id > q.batch_id
           order by g.priority desc nulls last, g.batch_id limit 1)
          union all
          (select g.priority, g.batch_id from request_ranges g where ${queuedRange} and g.priority < q.priority
           order by g.priority desc nulls last, g.batch_id limit 1)
          limit 1) n
      ), candidates as (
        select b.id, b.seq, b.owner, q.priority, b.expires_at, s.lines, s.remaining, s.unleased, s.mine
        from queued q
        join batches b on b.id = q.batch_id
        cross join lateral (
          select sum(g.size)::float8 as lines,
                 coalesce(sum(${open}) filter (where g.finished_at is null), 0)::float8 as remaining,
                 coalesce(sum(${open}) filter (where g.finished_at is null and g.lease_owner is null), 0)::float8 as unleased,
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
      ), ranked as (
        select c.id, c.mine, c.unleased, greatest(1, ceil(c.lines / greatest(1, l.workers))) as cap,
               row_number() over (order by
                 c.priority desc,
                 coalesce(h.lines, 0) / coalesce(ow.weight, 1),
                 extract(epoch from c.expires_at - now()) - coalesce(c.remaining / nullif(l.rate, 0), 0),
                 c.seq) as rank
        from candidates c
        cross join live l
        left join held h on h.owner = c.owner
        left join owner_weights ow on ow.owner = c.owner
      ), chosen as materialized (
        -- The best batches until what this worker may take of them reaches the limit (a batch it holds none of gives at least one range).
        select r.id, r.rank, r.mine, r.cap from (
          select r.*, sum(r.avail) over (order by r.rank) as cum
          from (select r.*, case when r.mine = 0 then greatest(1, least(r.unleased, r.cap)) else least(r.unleased, greatest(r.cap - r.mine, 0)) end as avail
                from ranked r) r
        ) r
        where r.cum - r.avail < ${limit} and r.avail > 0
      ), fit as materialized (
        -- Their first queued ranges, each marked whether it is among what the lease takes when no other lease holds any of them.
        select f.id, f.first_line, f.lines, c.rank,
               (c.mine = 0 and f.n = 1) or c.mine + f.cum <= c.cap as within
        from chosen c
        cross join lateral (
          select g.id, g.first_line, g.lines, row_number() over (order by g.first_line) as n, sum(g.lines) over (order by g.first_line) as cum
          from (select g.id, g.first_line, ${open} as lines from request_ranges g
                where g.batch_id = c.id and ${queuedRange} order by g.first_line limit ${limit}) g
        ) f
      ), locked as materialized (
        -- As many ranges as the lease needs when none is taken by another lease; one locked by another is passed over for the next.
        select g.id, f.first_line, f.lines, f.rank, f.within
        from request_ranges g join fit f on f.id = g.id
        where g.id = any(array(select id from fit)) and g.lease_owner is null and g.finished_at is null
        order by f.within desc, f.rank, f.first_line
        limit (select count(*) from (select f.lines, sum(f.lines) over (order by f.rank, f.first_line) as cum from fit f where f.within) w
               where w.cum - w.lines < ${limit})
        for update of g skip locked
      ), capped as (
        select l.id, l.first_line, l.lines, l.rank from (
          select l.*, row_number() over per_batch as n, sum(l.lines) over per_batch as cum
          from locked l
          window per_batch as (partition by l.rank order by l.first_line)
        ) l join chosen c on c.rank = l.rank
        where (c.mine = 0 and l.n = 1) or c.mine + l.cum <= c.cap
      ), picked as (
        select x.id from (select p.id, p.lines, sum(p.lines) over (order by p.rank, p.first_line) as cum from capped p) x
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
      join chosen k on k.id = c.batch_id
      join requests r on r.batch_id = c.batch_id and r.model = c.model and r.line between c.first_line and c.last_line
      where not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
      order by k.rank, r.line`;
}
