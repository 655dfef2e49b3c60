import { doublePrecision, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/**
 * Per-owner quotas set by administrators (`setOwnerLimits`); an owner without a row, or a null
 * limit, gets the deployment's default from the environment. Stored here so every gateway
 * replica enforces the same numbers.
 */
export const ownerLimits = pgTable('owner_limits', {
  owner: text('owner').primaryKey(),
  /** Requests the owner may have queued (not yet finished) across its batches; over it, batch creation is a 429. */
  maxQueuedRequests: integer('max_queued_requests'),
  /** API requests per minute (a token bucket holding a minute's worth); over it, a 429 with Retry-After. */
  requestsPerMinute: integer('requests_per_minute'),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

/** Each owner's API token bucket, shared by every gateway replica: `tokens` left as of `refilledAt`. */
export const rateBuckets = pgTable('rate_buckets', {
  owner: text('owner').primaryKey(),
  tokens: doublePrecision('tokens').notNull(),
  refilledAt: at('refilled_at').notNull().defaultNow(),
});
