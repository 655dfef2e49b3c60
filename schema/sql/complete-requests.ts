import { sql } from 'drizzle-orm';
import { preparedRows, type Database, type Executor } from '../db.ts';
import { BUMPED_RANGES, copyResults, type WrittenCounts } from './copy-results.ts';
import { idArray, mineLockedInIdOrder } from './own-leases.ts';
import type { FinishedRequestState } from '../states/request-state.ts';
import type { RequestError } from '../tables/requests.ts';
import { readBatchCounters, type BatchCountersWithBudget } from './read-batch-counters.ts';

/** The outcome of one leased request, as the worker writes it. */
export interface RequestResult {
  /** The request's id (requests.id): the worker's handle on it. */
  id: number;
  /** The range it was leased with: the result is written only while the worker still holds it. */
  rangeId: number;
  batchId: string;
  line: number;
  /** When the worker sent it to the engine (ms since the epoch), or null when it never did. */
  startedAtMs: number | null;
  status: Extract<FinishedRequestState, 'succeeded' | 'failed'>;
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

/**
 * A batch's counters after a result write, as the write returned them, with what the write
 * itself counted and whether they have just gone over the batch's error budget (`overBudget`).
 */
export interface WrittenBatchCounters extends Omit<BatchCountersWithBudget, 'id'> {
  batchId: string;
  /** How many of this write's results belonged to this batch. */
  written: number;
  /** How many of those were failures (the rest succeeded). */
  writtenFailed: number;
}

/**
 * Writes a page of results, only for ranges `owner` still holds (a worker that lost its range
 * cannot write a duplicate, and a line with a result keeps it: ON CONFLICT DO NOTHING), and
 * bumps those ranges' counters by what was inserted, in one statement; a range whose every line
 * now has a result is finished and its lease cleared. The ranges are locked in id order first,
 * as the heartbeat and the stop lock them, so the worker's statements never deadlock; no batch
 * row is written, so writers of one batch never queue on it.
 *
 * Then, in a second statement, reads the summed counters of the batches written to: read after
 * the write committed, so of two writers finishing a batch at once the later one sees it done
 * (and of two writers going over a batch's error budget together, the later one sees it over).
 * Results whose lease was lost are simply not counted.
 *
 * With `copy` (a Postgres database's {@link Database.copyTransaction}), the rows travel by
 * `COPY` ({@link copyResults}): parameters cost about twice as much per result (each response
 * escaped into an array literal and parsed back; docs/performance.md, "Lease path").
 */
export async function completeRequests(
  db: Executor,
  owner: string,
  results: readonly RequestResult[],
  copy?: Database['copyTransaction'],
): Promise<WrittenBatchCounters[]> {
  if (results.length === 0) return [];
  const written = copy
    ? // Anything COPY refuses (the driver loses its error) goes again as parameters, where the
      // guard's ON CONFLICT passes a line that has a result and a refused value's error names it.
      await copy((tx) => copyResults(tx, owner, results)).catch(() => writeResults(db, owner, results))
    : await writeResults(db, owner, results);
  if (written.length === 0) return [];
  const counts = new Map(written.map((w) => [w.batchId, w]));
  const counters = await readBatchCounters(db, [...counts.keys()], { budget: true });
  return counters.map(({ id, ...c }) => ({
    batchId: id,
    ...c,
    written: counts.get(id)?.written ?? 0,
    writtenFailed: counts.get(id)?.writtenFailed ?? 0,
  }));
}

/**
 * The write of {@link completeRequests}. Each column goes as one array parameter unnested
 * into rows: measured twice as fast as json_to_recordset over one JSON text (93k against
 * 46k rows/s with 687-byte responses), and the same on postgres.js and PGlite.
 */
function writeResults(db: Executor, owner: string, results: readonly RequestResult[]) {
  const column = <T>(pick: (r: RequestResult) => T) => results.map(pick);
  return preparedRows<WrittenCounts>(
    db,
    sql`
      with input as (
        select distinct on (x.batch_id, x.line) x.*
        from unnest(${textArray(column((r) => String(r.rangeId)))}::bigint[], ${textArray(column((r) => r.batchId))}::text[],
                    ${numberArray(column((r) => r.line))}::int[], ${textArray(column((r) => r.status))}::text[],
                    ${numberArray(column((r) => r.statusCode))}::int[], ${textArray(column((r) => r.response))}::text[],
                    ${textArray(column((r) => r.engineRequestId))}::text[], ${textArray(column((r) => (r.error ? JSON.stringify(r.error) : null)))}::jsonb[],
                    ${numberArray(column((r) => r.promptTokens))}::int[], ${numberArray(column((r) => r.completionTokens))}::int[],
                    ${numberArray(column((r) => r.startedAtMs))}::float8[])
          as x(range_id, batch_id, line, status, status_code, response, engine_request_id, error, prompt_tokens, completion_tokens, started_ms)
        -- A line twice in one page (its range was reaped and leased again meanwhile): the later range's
        -- result, since ranges cut later (a split's pieces) have higher ids and the earlier one is lost.
        order by x.batch_id, x.line, x.range_id desc
      ), ${mineLockedInIdOrder(owner, idArray([...new Set(results.map((r) => r.rangeId))]))}, inserted as (
        insert into results (batch_id, line, status, status_code, response, engine_request_id, error,
                             prompt_tokens, completion_tokens, attempts, started_at)
        select i.batch_id, i.line, i.status, i.status_code, i.response, i.engine_request_id, i.error,
               i.prompt_tokens, i.completion_tokens, m.attempts, to_timestamp(i.started_ms / 1000.0)
        from input i join mine m on m.id = i.range_id and m.batch_id = i.batch_id and i.line between m.first_line and m.last_line
        on conflict do nothing
        returning batch_id, line, status, prompt_tokens, completion_tokens
      ), sums as (
        select i.range_id,
               count(*) filter (where x.status = 'succeeded')::int as ok,
               count(*) filter (where x.status <> 'succeeded')::int as bad,
               coalesce(sum(x.prompt_tokens), 0)::bigint as pt,
               coalesce(sum(x.completion_tokens), 0)::bigint as ct
        from inserted x join input i on i.batch_id = x.batch_id and i.line = x.line
        group by i.range_id
      ), ${BUMPED_RANGES}
      select batch_id as "batchId", sum(ok + bad)::int as "written", sum(bad)::int as "writtenFailed" from bumped group by batch_id`,
  );
}

/** A Postgres array literal of text elements, each quoted (quotes and backslashes escaped) or NULL. */
function textArray(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;
}

/** A Postgres array literal of numbers; null (and anything not finite) is NULL. */
function numberArray(values: readonly (number | null)[]): string {
  return `{${values.map((v) => (v === null || !Number.isFinite(v) ? 'NULL' : String(v))).join(',')}}`;
}
