import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { HANDLER_RUN_STATUSES, type HandlerRunStatus } from '../states/handler-run-status.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';

/**
 * The handler outbox: one row per (batch, handler) created with the batch's final status, and
 * one per (batch, handler, annotation change) for handlers that run on `result.annotated`.
 */
export const handlerRuns = pgTable(
  'handler_runs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    batchId: text('batch_id').notNull(),
    handler: text('handler').notNull(),
    /** The event that created the run: a final status (completed, failed, expired, cancelled) or result.annotated. */
    event: text('event').notNull(),
    /** For result.annotated: the annotated line. */
    line: integer('line'),
    /** For result.annotated: the change's value of result_annotation_seq (runs of one result go in this order). */
    annotationSeq: bigint('annotation_seq', { mode: 'number' }),
    /** For result.annotated: the annotation as that change left it (the handler's `context.annotation`). */
    annotation: jsonb('annotation'),
    /** One of HANDLER_RUN_STATUSES: queued, running, succeeded, skipped (the handler does not run for this event), dead (attempts used up). */
    status: text('status').$type<HandlerRunStatus>().notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    nextAttemptAt: at('next_attempt_at').notNull().defaultNow(),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: at('lease_expires_at'),
    lastError: text('last_error'),
    /** Progress saved by the handler, so that a retry (even after a crash) resumes instead of redoing work. */
    checkpoint: jsonb('checkpoint'),
    /** What the handler returned on success (a summary: status code, rows written). */
    result: jsonb('result'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
    finishedAt: at('finished_at'),
  },
  (t) => [
    // One run per (batch, handler) for the batch's final status; annotation runs are unique per change.
    uniqueIndex('handler_runs_batch_event_idx').on(t.batchId, t.handler).where(sql`annotation_seq is null`),
    uniqueIndex('handler_runs_annotation_idx').on(t.batchId, t.handler, t.annotationSeq).where(sql`annotation_seq is not null`),
    // Finds the earlier, unfinished runs of the same result that a run waits for.
    index('handler_runs_result_idx').on(t.batchId, t.line, t.handler).where(sql`annotation_seq is not null`),
    index('handler_runs_due_idx').on(t.nextAttemptAt).where(sql`status = 'queued'`),
    // Runs left `running` by a dead process are found by their expired lease.
    index('handler_runs_running_idx').on(t.leaseExpiresAt).where(sql`status = 'running'`),
    check('handler_runs_status_check', sql`status in ${sqlList(HANDLER_RUN_STATUSES)}`),
  ],
);
