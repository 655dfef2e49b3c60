import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';

/** Buckets a progress curve has at most: enough for a chart's width, few enough to read on every event. */
export const PROGRESS_CURVE_BUCKETS = 120;

/** A point of a batch's progress curve: the requests run so far by the last result of a time bucket. */
export interface ProgressCurvePoint {
  /** The last result of the bucket, in milliseconds since the epoch. */
  atMs: number;
  /** Requests run so far (succeeded and failed), cumulative. */
  finished: number;
  /** Of those, failed. */
  failed: number;
}

/**
 * A batch's progress over time from its results' `finished_at`: the time from its first result
 * to its last cut into at most `buckets` equal buckets (a second at least), and per bucket the
 * requests run by its end. Only results of requests that ran (succeeded or failed) count: the
 * lines a stopping batch closes without running are no progress. Empty before the first result,
 * and once the results of an ended batch were removed with its files.
 */
export async function batchProgressCurve(db: Executor, batchId: string, buckets = PROGRESS_CURVE_BUCKETS): Promise<ProgressCurvePoint[]> {
  return rows<ProgressCurvePoint>(
    db,
    sql`with ran as (select finished_at, status from results where batch_id = ${batchId} and status in ('succeeded', 'failed')),
             span as (select min(finished_at) as first,
                             greatest(extract(epoch from max(finished_at) - min(finished_at)) / ${buckets}, 1) as width
                      from ran)
        select (extract(epoch from last) * 1000)::float8 as "atMs",
               (sum(n) over (order by bucket))::float8 as "finished", (sum(f) over (order by bucket))::float8 as "failed"
        from (select floor(extract(epoch from r.finished_at - span.first) / span.width) as bucket, max(r.finished_at) as last,
                     count(*) as n, count(*) filter (where r.status = 'failed') as f
              from ran r, span group by 1) buckets
        order by bucket`,
  );
}
