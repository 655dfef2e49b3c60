import { sql, type SQL } from 'drizzle-orm';

/**
 * A batch's counters are what its row kept from before range leases (the previous release
 * counted on the batch row) plus the sums of its ranges' counters: result writes update only
 * their own range, so no two workers queue on one batch row. Join {@link RANGE_SUMS} to a
 * `batches b` in a FROM clause, then read the counters through the expressions below.
 */
export const RANGE_SUMS: SQL = sql`left join lateral (
    select coalesce(sum(g.succeeded), 0)::int as succeeded, coalesce(sum(g.failed), 0)::int as failed,
           coalesce(sum(g.prompt_tokens), 0)::bigint as prompt_tokens, coalesce(sum(g.completion_tokens), 0)::bigint as completion_tokens
    from request_ranges g where g.batch_id = b.id) rs on true`;

/** A range's (`g`) lines still to run: its size less the results counted on it. */
export const OPEN_LINES: SQL = sql`(g.size - g.succeeded - g.failed)`;

/** The batch's succeeded requests (OpenAI's `request_counts.completed`), over {@link RANGE_SUMS}. */
export const COMPLETED: SQL = sql`(b.completed + rs.succeeded)`;
/** The batch's failed requests, over {@link RANGE_SUMS}. */
export const FAILED: SQL = sql`(b.failed + rs.failed)`;
export const PROMPT_TOKENS: SQL = sql`(b.prompt_tokens + rs.prompt_tokens)`;
export const COMPLETION_TOKENS: SQL = sql`(b.completion_tokens + rs.completion_tokens)`;

/** The four counters as the columns `completed`, `failed`, `promptTokens`, `completionTokens` (numbers on both drivers). */
export const COUNTER_COLUMNS: SQL = sql`${COMPLETED} as "completed", ${FAILED} as "failed",
  ${PROMPT_TOKENS}::float8 as "promptTokens", ${COMPLETION_TOKENS}::float8 as "completionTokens"`;
