import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus } from '../states/batch-status.ts';
import { COUNTER_COLUMNS, RANGE_SUMS } from './range-sums.ts';

/** The status and counters of a batch, as progress subscriptions start from. */
export interface BatchCountersRow {
  id: string;
  owner: string;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
}

/**
 * Reads the counters of the given batches in one statement (the ones that exist): the batch
 * row's plus the sums of its ranges', since result writes count on their range only.
 */
export function readBatchCounters(db: Executor, ids: readonly string[]): Promise<BatchCountersRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<BatchCountersRow>(
    db,
    sql`select b.id, b.owner, b.status, b.total, ${COUNTER_COLUMNS}
        from batches b ${RANGE_SUMS}
        where b.id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})
        order by b.id`,
  );
}
