import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/**
 * The unit the fleet leases: consecutive lines of one batch that name one model, cut when
 * the batch is queued. A worker claims a range with one row update; nothing per request is
 * written until its result. The range's counters are summed into its batch's counters
 * when read, so that result writes of many workers never queue on one batch row.
 */
export const requestRanges = pgTable(
  'request_ranges',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    batchId: text('batch_id').notNull(),
    model: text('model').notNull(),
    /** The batch's owner, copied for fair share between owners. */
    owner: text('owner').notNull(),
    /** The batch's priority, copied so that the queue index orders by it. */
    priority: integer('priority').notNull().default(0),
    firstLine: integer('first_line').notNull(),
    lastLine: integer('last_line').notNull(),
    /** The lines of `model` between the first and the last that had no result when the range was cut. */
    size: integer('size').notNull(),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: at('lease_expires_at'),
    /** Leases taken, the current one included. */
    attempts: integer('attempts').notNull().default(0),
    /** Results written through this range (the batch's counters are the sums over its ranges). */
    succeeded: integer('succeeded').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    /** Set when the range has nothing left to run: every line has a result, it was split, or its batch stopped. */
    finishedAt: at('finished_at'),
  },
  (t) => [
    // Counters summed per batch, and the ranges of a batch in line order.
    index('request_ranges_batch_idx').on(t.batchId, t.firstLine),
    // The lease walks this: open, unleased ranges of one model, best priority first.
    index('request_ranges_queue_idx')
      .on(t.model, t.priority.desc(), t.batchId, t.firstLine)
      .where(sql`lease_owner is null and finished_at is null`),
    // The reaper walks this: leases by expiry.
    index('request_ranges_leased_idx').on(t.leaseExpiresAt).where(sql`lease_owner is not null`),
    // A worker's own leases (heartbeat, release) and the fair share (in-flight lines per owner).
    index('request_ranges_lease_owner_idx').on(t.leaseOwner).where(sql`lease_owner is not null`),
  ],
);
