import { sql } from 'drizzle-orm';
import { check, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { FINISHED_REQUEST_STATES, type FinishedRequestState } from '../states/request-state.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';
import type { RequestError } from './requests.ts';

/**
 * One row per finished request, appended once (a worker's result, or the status a stopping
 * batch gives its unfinished lines): the request's state is derived from this row and its
 * range, and the result files are read from it in line order.
 */
export const results = pgTable(
  'results',
  {
    batchId: text('batch_id').notNull(),
    line: integer('line').notNull(),
    /** One of FINISHED_REQUEST_STATES. */
    status: text('status').$type<FinishedRequestState>().notNull(),
    statusCode: integer('status_code'),
    /** The engine's response body (JSON text), reassembled from the stream. */
    response: text('response'),
    engineRequestId: text('engine_request_id'),
    error: jsonb('error').$type<RequestError>(),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    /** Leases of the request's range when its result was written. */
    attempts: integer('attempts').notNull().default(1),
    startedAt: at('started_at'),
    finishedAt: at('finished_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'results_pkey', columns: [t.batchId, t.line] }),
    check('results_status_check', sql`status in ${sqlList(FINISHED_REQUEST_STATES)}`),
  ],
);
