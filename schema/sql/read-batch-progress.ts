import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchCountersRow } from './read-batch-counters.ts';
import { COUNTER_COLUMNS, RANGE_SUMS } from './range-sums.ts';

/** A batch's counters and whether it is paused, as `batchProgress` starts from and resyncs with. */
export interface BatchProgressRow extends BatchCountersRow {
  /** When its owner paused it (milliseconds since the epoch); null while it is not paused. */
  pausedAtMs: number | null;
}

/** Reads the counters and `paused_at` of the given batches (the ones that exist) in one statement. */
export function readBatchProgress(db: Executor, ids: readonly string[]): Promise<BatchProgressRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<BatchProgressRow>(
    db,
    sql`select b.id, b.owner, b.status, b.total, ${COUNTER_COLUMNS},
               (extract(epoch from b.paused_at) * 1000)::float8 as "pausedAtMs"
        from batches b ${RANGE_SUMS}
        where b.id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})
        order by b.id`,
  );
}
