import { sql } from 'drizzle-orm';
import { bigint, check, doublePrecision, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { BATCH_STATUSES, type BatchStatus } from '../states/batch-status.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';

/** One error of a batch, as in OpenAI's `errors.data`. */
export interface BatchErrorItem {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** The OpenAI Batch object, plus priority, owner and per-batch handler options. */
export const batches = pgTable(
  'batches',
  {
    id: text('id').primaryKey(),
    /** Creation order, strictly increasing (timestamps can tie): lists and cursors follow it. */
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    owner: text('owner').notNull(),
    endpoint: text('endpoint').notNull(),
    /** The model of every request, or null when the batch mixes models. */
    model: text('model'),
    completionWindow: text('completion_window').notNull(),
    status: text('status').$type<BatchStatus>().notNull(),
    inputFileId: text('input_file_id').notNull(),
    outputFileId: text('output_file_id'),
    errorFileId: text('error_file_id'),
    errors: jsonb('errors').$type<BatchErrorItem[]>(),
    metadata: jsonb('metadata').$type<Record<string, string>>(),
    priority: integer('priority').notNull().default(0),
    handlers: jsonb('handlers').$type<Record<string, unknown>>().notNull().default({}),
    retriedFrom: text('retried_from'),
    /** Seconds the output and error files live after they are created (`output_expires_after`, else FILE_RETENTION_DAYS); null = kept. */
    outputExpiresAfter: integer('output_expires_after'),
    /** When the requests' bodies were removed, their input file being gone (expired or deleted) and the batch ended. */
    bodiesPurgedAt: at('bodies_purged_at'),
    /** When the requests' results were removed, the output and error files being gone and the batch ended. */
    resultsPurgedAt: at('results_purged_at'),
    /** When the owner paused the batch (`pauseBatch`): nothing of it is leased until it is resumed; null = running. */
    pausedAt: at('paused_at'),
    /** The error budget set at creation: the batch stops once more requests than this have failed; null = no limit. */
    maxFailedRequests: integer('max_failed_requests'),
    /** The error budget as a share of the finished requests (0–1), checked once `minRequestsForRatio` have finished; null = no limit. */
    maxFailureRatio: doublePrecision('max_failure_ratio'),
    minRequestsForRatio: integer('min_requests_for_ratio').notNull().default(100),
    /** When the error budget was found exceeded: the batch stops (like a cancel) and ends `failed`. */
    budgetExceededAt: at('budget_exceeded_at'),
    total: integer('total').notNull().default(0),
    completed: integer('completed').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    /** Who is validating the input file, and until when; a crashed validator's batch is picked up again. */
    validationOwner: text('validation_owner'),
    validationExpiresAt: at('validation_expires_at'),
    /** Validations started, the first included: a batch whose validation keeps failing unexpectedly is failed, not retried for ever. */
    validationAttempts: integer('validation_attempts').notNull().default(0),
    createdAt: at('created_at').notNull().defaultNow(),
    inProgressAt: at('in_progress_at'),
    expiresAt: at('expires_at').notNull(),
    finalizingAt: at('finalizing_at'),
    completedAt: at('completed_at'),
    failedAt: at('failed_at'),
    expiredAt: at('expired_at'),
    cancellingAt: at('cancelling_at'),
    cancelledAt: at('cancelled_at'),
  },
  (t) => [
    index('batches_owner_seq_idx').on(t.owner, t.seq),
    index('batches_status_idx').on(t.status),
    check('batches_status_check', sql`status in ${sqlList(BATCH_STATUSES)}`),
  ],
);
