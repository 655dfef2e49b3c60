import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import type { BatchStatus } from '../states/batch-status.ts';
import { OVER_BUDGET } from './error-budget.ts';
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

/** The counters of a batch with whether they have just gone over its error budget ({@link OVER_BUDGET}). */
export interface BatchCountersWithBudget extends BatchCountersRow {
  overBudget: boolean;
}

/**
 * Reads the counters of the given batches in one statement (the ones that exist): the batch
 * row's plus the sums of its ranges', since result writes count on their range only. With
 * `budget`, each also says whether it has just gone over its error budget.
 */
export function readBatchCounters(db: Executor, ids: readonly string[]): Promise<BatchCountersRow[]>;
export function readBatchCounters(db: Executor, ids: readonly string[], budget: { budget: true }): Promise<BatchCountersWithBudget[]>;
export function readBatchCounters(db: Executor, ids: readonly string[], budget?: { budget: true }): Promise<BatchCountersRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return rows<BatchCountersRow>(
    db,
    sql`select b.id, b.owner, b.status, b.total, ${COUNTER_COLUMNS}${budget ? sql`, ${OVER_BUDGET} as "overBudget"` : sql``}
        from batches b ${RANGE_SUMS}
        where b.id in (${sql.join(
          ids.map((id) => sql`${id}`),
          sql`, `,
        )})
        order by b.id`,
  );
}
