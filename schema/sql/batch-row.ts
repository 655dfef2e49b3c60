import { sql } from 'drizzle-orm';
import type { BatchStatus } from '../states/batch-status.ts';
import { COUNTER_COLUMNS } from './range-sums.ts';
import type { BatchErrorItem } from '../tables/batches.ts';

/** A batch as the API reads it; times in milliseconds since the epoch (null when not reached). */
export interface BatchRow {
  id: string;
  owner: string;
  endpoint: string;
  model: string | null;
  completionWindow: string;
  status: BatchStatus;
  inputFileId: string;
  outputFileId: string | null;
  errorFileId: string | null;
  errors: BatchErrorItem[] | null;
  metadata: Record<string, string> | null;
  priority: number;
  handlers: Record<string, unknown>;
  retriedFrom: string | null;
  total: number;
  completed: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  createdAtMs: number;
  inProgressAtMs: number | null;
  expiresAtMs: number;
  finalizingAtMs: number | null;
  completedAtMs: number | null;
  failedAtMs: number | null;
  expiredAtMs: number | null;
  cancellingAtMs: number | null;
  cancelledAtMs: number | null;
  /** When the owner paused it; null while it is not paused. */
  pausedAtMs: number | null;
  /** The error budget set at creation (null: no limit); `minRequestsForRatio` applies to `maxFailureRatio`. */
  maxFailedRequests: number | null;
  maxFailureRatio: number | null;
  minRequestsForRatio: number;
  /** When the batch was found over its error budget (it is stopping, then `failed`); null otherwise. */
  budgetExceededAtMs: number | null;
}

const ms = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8`);

/**
 * The columns of {@link BatchRow} (of table alias `b` with `RANGE_SUMS` joined: the counters are
 * the batch row's plus its ranges'), cast so that both drivers return the same types: int8 as
 * float8, timestamps as epoch milliseconds, jsonb as text (parsed by {@link toBatchRow}).
 */
export const BATCH_COLUMNS = sql`b.id, b.owner, b.endpoint, b.model, b.completion_window as "completionWindow", b.status,
  b.input_file_id as "inputFileId", b.output_file_id as "outputFileId", b.error_file_id as "errorFileId",
  b.errors::text as "errors", b.metadata::text as "metadata", b.priority, b.handlers::text as "handlers",
  b.retried_from as "retriedFrom", b.total, ${COUNTER_COLUMNS},
  ${ms('b.created_at')} as "createdAtMs", ${ms('b.in_progress_at')} as "inProgressAtMs", ${ms('b.expires_at')} as "expiresAtMs",
  ${ms('b.finalizing_at')} as "finalizingAtMs", ${ms('b.completed_at')} as "completedAtMs", ${ms('b.failed_at')} as "failedAtMs",
  ${ms('b.expired_at')} as "expiredAtMs", ${ms('b.cancelling_at')} as "cancellingAtMs", ${ms('b.cancelled_at')} as "cancelledAtMs",
  ${ms('b.paused_at')} as "pausedAtMs", b.max_failed_requests as "maxFailedRequests", b.max_failure_ratio as "maxFailureRatio",
  b.min_requests_for_ratio as "minRequestsForRatio", ${ms('b.budget_exceeded_at')} as "budgetExceededAtMs"`;

type RawBatchRow = Omit<BatchRow, 'errors' | 'metadata' | 'handlers'> & {
  errors: string | null;
  metadata: string | null;
  handlers: string;
};

/** Parses the JSON columns of a row selected with {@link BATCH_COLUMNS}. */
export function toBatchRow(raw: RawBatchRow): BatchRow {
  return {
    ...raw,
    errors: raw.errors === null ? null : (JSON.parse(raw.errors) as BatchErrorItem[]),
    metadata: raw.metadata === null ? null : (JSON.parse(raw.metadata) as Record<string, string>),
    handlers: JSON.parse(raw.handlers) as Record<string, unknown>,
  };
}

/** The raw shape of a row selected with {@link BATCH_COLUMNS}, before {@link toBatchRow}. */
export type { RawBatchRow };
