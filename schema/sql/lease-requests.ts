import { sql, type SQL } from 'drizzle-orm';
import { preparedRows, type Executor } from '../db.ts';
import { OPEN_LINES } from './range-sums.ts';

/** The NOTIFY channel that wakes idle workers when requests are queued; the payload is the model name. */
export const QUEUE_CHANNEL = 'vbs_queue';

/** How recent a worker's heartbeat must be for it to count as serving its models (the spread cap, the throughput). */
export const LIVE_WORKER_SECONDS = 30;

/** A live worker (alias `w`) serving `model` (a text expression): what the spread cap divides by and whose completion rates are the throughput. */
export const servesModel = (
  model: SQL,
) => sql`w.heartbeat_at > now() - make_interval(secs => ${LIVE_WORKER_SECONDS}) and w.status in ('ready', 'starting')
  and (w.model = ${model} or w.engine_models @> jsonb_build_array(jsonb_build_object('id', ${model})))`;

/** A batch (`b`) whose ranges a worker may lease now: running, not paused, not stopping over its error budget, within its window. */
export const LEASABLE_BATCH = sql`b.status = 'in_progress' and b.paused_at is null and b.budget_exceeded_at is null and b.expires_at > now()`;

/** A range (`g`) of a batch (`b`) that a worker may lease now: open, unleased, its batch leasable ({@link LEASABLE_BATCH}). */
export const LEASABLE_RANGE = sql`g.lease_owner is null and g.finished_at is null and ${LEASABLE_BATCH}`;

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
  /** Lines wanted: at most this many come back (fewer when the queue, the worker's share or other leases leave fewer). */
  limit: number;
  leaseMs: number;
}

/**
 * Claims open ranges of one model in one statement and returns their requests that have no
 * result yet, best batch first, in line order. Nothing per request is written.
 *
 * Batches are ranked by priority (strict), then fair share (the lines the batch's owner
 * holds leased in this model over its weight in `owner_weights`, fewest first), then
 * deadline slack (seconds to `expires_at` minus the batch's open lines over the model's
 * throughput, the summed `completion_rate` of live workers), then creation order. Ranges are
 * taken from the best batches until they hold `limit` lines. A worker holds at most
 * ceil(batch lines / live workers) open lines of one batch: a 30-line batch spreads over 8
 * workers instead of going to the first, and a 1,000,000-line batch over 1,000.
 *
 * A range with more lines without a result than the worker may take (the rest of the limit,
 * the rest of its share of the batch) is split: the worker claims the range with its first k
 * such lines (it keeps its id and counters; last_line and size shrink so that its counted
 * results plus its open lines are its size), and the lines after them become a new open,
 * unleased range (same batch, model, owner, priority; the attempts the range had before this
 * lease; counters zero; size = its lines without a result). Every line without a result stays
 * in exactly one open range, and the batch's counters (summed over ranges) are unchanged.
 *
 * The ranges are locked with SKIP LOCKED in rank order, so concurrent leases pass each other;
 * a range changed since the statement's snapshot (another lease split or answered it meanwhile)
 * is passed over too, since its lines as this statement sees them would be out of date.
 */
export function leaseRequests(db: Executor, options: LeaseRequestsOptions) {
  return preparedRows<LeasedRequest>(db, leaseRequestsSql(options));
}

/** The statement of {@link leaseRequests}, for EXPLAIN. */
export function leaseRequestsSql({ owner, model, limit, leaseMs }: LeaseRequestsOptions) {
  const open = OPEN_LINES;
  const queuedRange = sql`g.model = ${model} and g.lease_owner is null and g.finished_at is null`;
  return sql`
      with recursive live as (
        select count(*)::int as workers, coalesce(sum(w.completion_rate), 0)::float8 as rate
        from workers w
        where ${servesModel(sql`${model}::text`)}
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
      ), leased as (
        -- The leased lines of the model per batch (and its owner), the worker's own among them: one pass over the leases.
        select g.batch_id, g.owner, sum(${open})::float8 as lines,
               coalesce(sum(${open}) filter (where g.lease_owner = ${owner}), 0)::float8 as mine
        from request_ranges g
        where g.lease_owner is not null and g.finished_at is null and g.model = ${model}
        group by g.batch_id, g.owner
      ), candidates as (
        -- Only open ranges are read: the finished pieces that splitting leaves behind a batch's queue cost nothing here.
        -- A batch's lines of the model are its total when it has one model, else the sum of its ranges' sizes.
        select b.id, b.seq, b.owner, q.priority, b.expires_at,
               case when b.model is null then s.lines else b.total::float8 end as lines,
               u.unleased + coalesce(l.lines, 0) as remaining, u.unleased, coalesce(l.mine, 0) as mine
        from queued q
        join batches b on b.id = q.batch_id
        cross join lateral (
          select coalesce(sum(${open}), 0)::float8 as unleased
          from request_ranges g where ${queuedRange} and g.priority = q.priority and g.batch_id = b.id
        ) u
        left join lateral (
          select sum(g.size)::float8 as lines from request_ranges g where b.model is null and g.batch_id = b.id and g.model = ${model}
        ) s on true
        left join leased l on l.batch_id = b.id
        where ${LEASABLE_BATCH}
      ), held as (
        select l.owner, sum(l.lines) as lines
        from leased l
        where l.owner in (select owner from candidates)
        group by l.owner
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
        -- The best batches until what this worker may take of them (its share of each, less what it holds) reaches the limit.
        select r.id, r.rank, r.mine, r.cap from (
          select r.*, sum(r.avail) over (order by r.rank) as cum
          from (select r.*, least(r.unleased, greatest(r.cap - r.mine, 0)) as avail from ranked r) r
        ) r
        where r.cum - r.avail < ${limit} and r.avail > 0
      ), fit as materialized (
        -- Their first queued ranges, each with the lines the lease takes of it when no other lease holds any of them
        -- (what is left of the worker's share of the batch), and its version (xmin) as this statement's snapshot sees it.
        select f.id, f.version, f.first_line, f.lines, c.rank, least(f.lines, c.cap - c.mine - (f.cum - f.lines)) as share
        from chosen c
        cross join lateral (
          select g.id, g.version, g.first_line, g.lines, sum(g.lines) over (order by g.first_line) as cum
          from (select g.id, g.xmin as version, g.first_line, ${open} as lines from request_ranges g
                where g.batch_id = c.id and ${queuedRange} order by g.first_line limit ${limit}) g
        ) f
      ), locked as materialized (
        -- As many ranges as the lease needs when none is taken by another lease; one locked by another is passed over for the next.
        -- A range changed since the snapshot (split, answered, released by another lease meanwhile) is passed over too: the lines
        -- this statement reads of it (results, its first open lines) would be out of date, and a split of it wrong.
        select g.id, g.batch_id, g.model, g.owner, g.priority, g.first_line, g.last_line, g.size, g.succeeded, g.failed, g.attempts,
               f.lines, f.rank, f.share > 0 as within
        from request_ranges g join fit f on f.id = g.id
        where g.id = any(array(select id from fit)) and g.lease_owner is null and g.finished_at is null and g.xmin = f.version
        order by f.share > 0 desc, f.rank, f.first_line
        limit (select count(*) from (select f.share, sum(f.share) over (order by f.rank, f.first_line) as cum from fit f where f.share > 0) w
               where w.cum - w.share < ${limit})
        for update of g skip locked
      ), capped as (
        -- What the worker may take of each locked range: the rest of its share of the batch...
        select l.id, l.first_line, l.rank, least(l.lines, c.cap - c.mine - (l.cum - l.lines))::int as take from (
          select l.*, sum(l.lines) over (partition by l.rank order by l.first_line) as cum
          from locked l
        ) l join chosen c on c.rank = l.rank
        where l.cum - l.lines < c.cap - c.mine
      ), picked as materialized (
        -- ...and of the limit.
        select x.id, x.rank, least(x.take, ${limit} - (x.cum - x.take))::int as take
        from (select p.*, sum(p.take) over (order by p.rank, p.first_line) as cum from capped p) x
        where x.cum - x.take < ${limit}
      ), cut as (
        -- A range the worker takes only part of is split after its take-th line without a result: the lines from the next one on
        -- become a new queued range. A dense range (every line of its span counted in its size, none answered) is split by
        -- arithmetic; another is walked up to that line.
        select p.id,
               case when d.dense then p.take else s.n end as n,
               case when d.dense then l.first_line + p.take - 1 else s.last_line end as last_line,
               case when d.dense then l.first_line + p.take else s.rest_first_line end as rest_first_line
        from picked p
        join locked l on l.id = p.id
        cross join lateral (select l.size = l.last_line - l.first_line + 1 and l.succeeded + l.failed = 0 as dense) d
        cross join lateral (
          select count(*) filter (where t.n <= p.take)::int as n, max(t.line) filter (where t.n <= p.take) as last_line,
                 min(t.line) filter (where t.n > p.take) as rest_first_line
          from (select r.line, row_number() over (order by r.line) as n
                from requests r
                where not d.dense and r.batch_id = l.batch_id and r.model = l.model and r.line between l.first_line and l.last_line
                  and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
                order by r.line
                limit p.take + 1) t
        ) s
        where p.take < l.lines and (d.dense or s.rest_first_line is not null)
      ), claimed as (
        update request_ranges g
        set lease_owner = ${owner},
            lease_expires_at = now() + make_interval(secs => ${leaseMs / 1000}),
            attempts = g.attempts + 1,
            last_line = coalesce(c.last_line, g.last_line),
            size = case when c.id is null then g.size else g.succeeded + g.failed + c.n end
        from picked p left join cut c on c.id = p.id
        where g.id = p.id and g.id = any(array(select id from picked))
        returning g.id, g.batch_id, g.model, g.first_line, g.last_line, g.attempts, p.rank
      ), rest as (
        insert into request_ranges (batch_id, model, owner, priority, first_line, last_line, size, attempts)
        select l.batch_id, l.model, l.owner, l.priority, c.rest_first_line, l.last_line, l.size - l.succeeded - l.failed - c.n, l.attempts
        from cut c join locked l on l.id = c.id
      )
      select r.id::float8 as "id", r.batch_id as "batchId", r.line, r.custom_id as "customId",
             r.model, r.body, c.attempts, c.id::float8 as "rangeId"
      from claimed c
      join requests r on r.batch_id = c.batch_id and r.model = c.model and r.line between c.first_line and c.last_line
      where not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
      order by c.rank, r.line`;
}
