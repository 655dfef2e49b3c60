import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { REQUEST_STATES, type RequestState } from '../states/request-state.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';

/** The error of one request, as written to the error file. */
export interface RequestError {
  code: string;
  message: string;
}

/** One row per input line; the unit the fleet leases. */
export const requests = pgTable(
  'requests',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    batchId: text('batch_id').notNull(),
    line: integer('line').notNull(),
    customId: text('custom_id').notNull(),
    model: text('model').notNull(),
    /** The request body exactly as the input line gave it (JSON text). */
    body: text('body').notNull(),
    /**
     * The previous release's request state (REQUEST_STATES), kept for its rows and for its
     * gateway during a rolling upgrade; the current state is the view `request_states`.
     */
    status: text('status').$type<RequestState>().notNull().default('queued'),
    /** The batch's priority, copied so that the lease query needs no join. */
    priority: integer('priority').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: at('lease_expires_at'),
    statusCode: integer('status_code'),
    /** The engine's response body (JSON text), reassembled from the stream. */
    response: text('response'),
    engineRequestId: text('engine_request_id'),
    error: jsonb('error').$type<RequestError>(),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
  },
  (t) => [
    uniqueIndex('requests_batch_line_idx').on(t.batchId, t.line),
    // Annotations name a result by its custom_id (unique within a batch, checked at validation).
    index('requests_batch_custom_id_idx').on(t.batchId, t.customId),
    check('requests_status_check', sql`status in ${sqlList(REQUEST_STATES)}`),
  ],
);
