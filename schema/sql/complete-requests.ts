import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
import { mineLockedInIdOrder } from './own-leases.ts';
import type { RequestError } from '../tables/requests.ts';
import type { BatchCountersRow } from './read-batch-counters.ts';

/** The outcome of one leased request, as the worker writes it. */
export interface RequestResult {
  id: number;
  status: 'succeeded' | 'failed';
  /** The engine's HTTP status, when it answered (2xx, or the 4xx it rejected the request with). */
  statusCode: number | null;
  /** The engine's response body as JSON text: the reassembled completion, or its 4xx error body. */
  response: string | null;
  engineRequestId: string | null;
  /** Set when the engine never answered (retries exhausted): the error file's `error`. */
  error: RequestError | null;
  promptTokens: number | null;
  completionTokens: number | null;
}

/** A batch's counters after a result write, as the write returned them. */
export interface BatchCounters extends Omit<BatchCountersRow, 'id'> {
  batchId: string;
  /** How many of this write's results belonged to this batch. */
  written: number;
}

/**
 * Writes a page of results in one statement, only for requests still leased by `owner`
 * (a worker that lost a lease cannot write a duplicate), and bumps the counters of their
 * batches in the same statement. The batch rows are locked in id order first, so that two
 * workers writing results of the same two batches cannot deadlock; the request rows are
 * locked in id order too, as every statement over a worker's leases does, so the worker's
 * heartbeat cannot deadlock with its own writes. Returns the counters
 * of every touched batch; results whose lease was lost are simply not counted.
 */
export async function completeRequests(db: Executor, owner: string, results: readonly RequestResult[]): Promise<BatchCounters[]> {
  if (results.length === 0) return [];
  return rows<BatchCounters>(
    db,
    sql`
      with input as (
        select * from json_to_recordset(${JSON.stringify(results)}::json) as x(
          id bigint, status text, "statusCode" int, response text, "engineRequestId" text, error jsonb,
          "promptTokens" int, "completionTokens" int)
      ), ${mineLockedInIdOrder(owner, sql`array(select id from input)`)}, done as (
        update requests r
        set status = i.status, status_code = i."statusCode", response = i.response,
            engine_request_id = i."engineRequestId", error = i.error,
            prompt_tokens = i."promptTokens", completion_tokens = i."completionTokens",
            finished_at = now(), lease_expires_at = null
        from input i, mine m
        where r.id = m.id and i.id = m.id
        returning r.batch_id, r.status, r.prompt_tokens, r.completion_tokens
      ), sums as (
        select batch_id,
               count(*) filter (where status = 'succeeded')::int as ok,
               count(*) filter (where status = 'failed')::int as bad,
               coalesce(sum(prompt_tokens), 0)::bigint as pt,
               coalesce(sum(completion_tokens), 0)::bigint as ct
        from done group by batch_id
      ), locked as (
        select b.id from batches b where b.id in (select batch_id from sums) order by b.id for update
      )
      update batches b
      set completed = b.completed + s.ok, failed = b.failed + s.bad,
          prompt_tokens = b.prompt_tokens + s.pt, completion_tokens = b.completion_tokens + s.ct
      from sums s, locked l
      where b.id = s.batch_id and l.id = s.batch_id
      returning b.id as "batchId", b.owner, b.status, b.total, b.completed, b.failed,
                b.prompt_tokens::float8 as "promptTokens", b.completion_tokens::float8 as "completionTokens",
                (s.ok + s.bad) as "written"`,
  );
}
