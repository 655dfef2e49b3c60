import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { BATCH_COLUMNS, toBatchRow, type BatchRow, type RawBatchRow } from './batch-row.ts';
import { RANGE_SUMS } from './range-sums.ts';

/** Options for {@link createBatch}. */
export interface CreateBatchOptions {
  id: string;
  owner: string;
  endpoint: string;
  inputFileId: string;
  /** As given (`24h`); `completionWindowSeconds` is what sets `expires_at`. */
  completionWindow: string;
  completionWindowSeconds: number;
  metadata: Record<string, string> | null;
  priority: number;
  /** Seconds the batch's output and error files live once created; null = kept. */
  outputExpiresAfter?: number | null;
  handlers: Record<string, unknown>;
  /** The error budget (docs/api.md, "Error budgets"); absent = none. */
  budget?: { maxFailedRequests: number | null; maxFailureRatio: number | null; minRequestsForRatio: number };
  /** The validator that holds the validation lease from the start, and for how long. */
  validationOwner: string;
  validationLeaseSeconds: number;
}

/** Inserts a batch in `validating`, its validation already leased to the creating gateway. */
export async function createBatch(db: Executor, o: CreateBatchOptions): Promise<BatchRow> {
  const [raw] = await rows<RawBatchRow>(
    db,
    sql`with b as (
        insert into batches (id, owner, endpoint, completion_window, status, input_file_id, metadata, priority, output_expires_after, handlers,
          max_failed_requests, max_failure_ratio, min_requests_for_ratio, validation_owner, validation_expires_at, validation_attempts, expires_at)
        values (${o.id}, ${o.owner}, ${o.endpoint}, ${o.completionWindow}, 'validating', ${o.inputFileId},
          ${o.metadata === null ? null : JSON.stringify(o.metadata)}::jsonb, ${o.priority}, ${o.outputExpiresAfter ?? null}, ${JSON.stringify(o.handlers)}::jsonb,
          ${o.budget?.maxFailedRequests ?? null}::int, ${o.budget?.maxFailureRatio ?? null}::float8, ${o.budget?.minRequestsForRatio ?? 100},
          ${o.validationOwner}, now() + make_interval(secs => ${o.validationLeaseSeconds}), 1,
          now() + make_interval(secs => ${o.completionWindowSeconds}))
        returning *
      )
      select ${BATCH_COLUMNS} from b ${RANGE_SUMS}`,
  );
  if (!raw) throw new Error(`createBatch: the insert of ${o.id} returned no row`);
  return toBatchRow(raw);
}
