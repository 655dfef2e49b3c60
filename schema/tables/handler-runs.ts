import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { HANDLER_RUN_STATUSES, type HandlerRunStatus } from '../states/handler-run-status.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';

/** The handler outbox: one row per (batch, handler), created with the batch's final status. */
export const handlerRuns = pgTable(
  'handler_runs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    batchId: text('batch_id').notNull(),
    handler: text('handler').notNull(),
    /** The batch event that created the run: completed, failed, expired, cancelled. */
    event: text('event').notNull(),
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
    uniqueIndex('handler_runs_batch_handler_idx').on(t.batchId, t.handler),
    index('handler_runs_due_idx').on(t.nextAttemptAt).where(sql`status = 'queued'`),
    // Runs left `running` by a dead process are found by their expired lease.
    index('handler_runs_running_idx').on(t.leaseExpiresAt).where(sql`status = 'running'`),
    check('handler_runs_status_check', sql`status in ${sqlList(HANDLER_RUN_STATUSES)}`),
  ],
);
