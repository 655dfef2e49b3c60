import { sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** A batch is cut into about this many ranges per model, so that a small batch spreads over many GPUs... */
export const RANGES_PER_MODEL = 256;
/** ...and a range holds at most this many lines, so that a large batch still changes hands in small steps (fair share). */
export const MAX_RANGE_LINES = 1024;

/**
 * Cuts the lines of a batch that have no result and no open range into ranges: per model,
 * consecutive lines in groups of ceil(lines / {@link RANGES_PER_MODEL}), at most
 * {@link MAX_RANGE_LINES}. Run in the transaction that queues the requests (ingest, retry).
 * migrations/0004_range-leases.sql cuts the previous release's unfinished requests the same way.
 */
export async function cutRanges(db: Executor, batchId: string): Promise<void> {
  await db.execute(cutRangesSql(batchId));
}

/**
 * The statement of {@link cutRanges}. `fresh`: the batch was queued in this transaction, so no
 * line has a result or a range yet, and the two lookups per line are left out (on a 50,000-line
 * batch they cost 170 of the statement's 240 ms).
 */
export function cutRangesSql(batchId: string, { fresh = false }: { fresh?: boolean } = {}): SQL {
  const unanswered = fresh
    ? sql``
    : sql`
        and not exists (select 1 from results x where x.batch_id = r.batch_id and x.line = r.line)
        and not exists (select 1 from request_ranges o where o.batch_id = r.batch_id and o.model = r.model
                          and o.finished_at is null and r.line between o.first_line and o.last_line)`;
  return sql`
    insert into request_ranges (batch_id, model, owner, priority, first_line, last_line, size)
    select q.batch_id, q.model, b.owner, b.priority, min(q.line), max(q.line), count(*)::int
    from (
      select r.batch_id, r.model, r.line,
             (row_number() over (partition by r.model order by r.line) - 1)
               / least(${MAX_RANGE_LINES}, greatest(1, ceil(count(*) over (partition by r.model) / ${RANGES_PER_MODEL}::numeric)))::int as k
      from requests r
      where r.batch_id = ${batchId}${unanswered}
    ) q join batches b on b.id = q.batch_id
    group by q.batch_id, q.model, b.owner, b.priority, q.k`;
}
