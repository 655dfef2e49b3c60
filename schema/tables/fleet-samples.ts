import { bigint, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/**
 * The fleet's history for the dashboard's charts: per model, every few seconds, the running
 * totals of finished requests and tokens and the queue depth at that moment. Throughput is the
 * difference between two samples. Written by whichever process takes the slot first (the
 * primary key makes a second writer of the same slot a no-op); old samples are swept.
 */
export const fleetSamples = pgTable(
  'fleet_samples',
  {
    /** The start of the sample's slot. */
    at: at('at').notNull(),
    model: text('model').notNull(),
    /** Requests finished so far (succeeded and failed), over every batch of the model. */
    finished: bigint('finished', { mode: 'number' }).notNull(),
    failed: bigint('failed', { mode: 'number' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull(),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull(),
    /** Requests queued (leasable, not leased) at that moment. */
    queued: bigint('queued', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.at, t.model] })],
);
