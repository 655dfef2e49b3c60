import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
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
    /** queued, running, succeeded, dead */
    status: text('status').notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    nextAttemptAt: at('next_attempt_at').notNull().defaultNow(),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: at('lease_expires_at'),
    lastError: text('last_error'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
    finishedAt: at('finished_at'),
  },
  (t) => [
    uniqueIndex('handler_runs_batch_handler_idx').on(t.batchId, t.handler),
    index('handler_runs_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`status = 'queued'`),
  ],
);
