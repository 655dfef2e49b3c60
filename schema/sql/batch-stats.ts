import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { COMPLETED, COMPLETION_TOKENS, FAILED, PROMPT_TOKENS, RANGE_SUMS } from './range-sums.ts';

/** Counters of a group of batches. */
export interface BatchTotals {
  batches: number;
  requests: number;
  succeeded: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** Mean seconds from creation to completion of the completed batches; null when none completed. */
  meanDurationSeconds: number | null;
  /** succeeded / (succeeded + failed); null before any request finished. */
  successRate: number | null;
}

/** The counters of the batches of one model (null: batches mixing models). */
export interface ModelCounters extends BatchTotals {
  model: string | null;
}

/** An owner's batch history summed up: by status, by model and overall. */
export interface BatchStats extends BatchTotals {
  byStatus: { status: string; batches: number }[];
  byModel: ModelCounters[];
}

interface Group {
  status: string;
  model: string | null;
  batches: number;
  requests: number;
  succeeded: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  completedBatches: number;
  durationSum: number;
}

function sum(groups: Group[]): BatchTotals {
  const total = (key: keyof Group) => groups.reduce((acc, g) => acc + Number(g[key]), 0);
  const completedBatches = total('completedBatches');
  const finished = total('succeeded') + total('failed');
  return {
    batches: total('batches'),
    requests: total('requests'),
    succeeded: total('succeeded'),
    failed: total('failed'),
    promptTokens: total('promptTokens'),
    completionTokens: total('completionTokens'),
    meanDurationSeconds: completedBatches > 0 ? total('durationSum') / completedBatches : null,
    successRate: finished > 0 ? total('succeeded') / finished : null,
  };
}

/** Sums up an owner's batches created since `sinceMs` (all of them when absent), from the batch counters (the row's plus its ranges'). */
export async function batchStats(db: Executor, owner: string, sinceMs?: number): Promise<BatchStats> {
  const since = sinceMs === undefined ? sql`` : sql`and b.created_at >= to_timestamp(${sinceMs / 1000})`;
  const groups = await rows<Group>(
    db,
    sql`select b.status, b.model, count(*)::int as "batches", sum(b.total)::float8 as "requests", sum(${COMPLETED})::float8 as "succeeded",
          sum(${FAILED})::float8 as "failed", sum(${PROMPT_TOKENS})::float8 as "promptTokens",
          sum(${COMPLETION_TOKENS})::float8 as "completionTokens",
          count(*) filter (where b.status = 'completed')::int as "completedBatches",
          coalesce(sum(extract(epoch from b.completed_at - b.created_at)) filter (where b.status = 'completed'), 0)::float8 as "durationSum"
        from batches b ${RANGE_SUMS}
        where b.owner = ${owner} ${since}
        group by b.status, b.model order by b.status, b.model`,
  );
  const statuses = [...new Set(groups.map((g) => g.status))];
  const models = [...new Set(groups.map((g) => g.model))];
  return {
    ...sum(groups),
    byStatus: statuses.map((status) => ({ status, batches: sum(groups.filter((g) => g.status === status)).batches })),
    byModel: models.map((model) => ({ model, ...sum(groups.filter((g) => g.model === model)) })),
  };
}
