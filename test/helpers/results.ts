import { sql, type SQL } from 'drizzle-orm';
import { BUMPED_RANGES, type Executor } from '../../schema/index.ts';

/** What {@link answerLines} writes for each line; SQL values may use the line's request `r`. */
export interface AnswerOptions {
  /** Which lines, over the request `r` (all of the batch's when absent). */
  where?: SQL;
  status: 'succeeded' | 'failed';
  statusCode?: number | null;
  response?: SQL | string | null;
  engineRequestId?: SQL | string | null;
  error?: { code: string; message: string } | null;
  promptTokens?: number | null;
  completionTokens?: number | null;
}

/**
 * Answers lines of a batch the way a worker's result write leaves them: a result row per line
 * (lines that have one keep it), counted on the open range holding the line, which finishes once
 * every line of it has a result. For tests that stand in for the fleet without running one.
 */
export async function answerLines(db: Executor, batchId: string, o: AnswerOptions): Promise<void> {
  const value = (v: SQL | string | number | null | undefined) => (v === undefined ? sql`null` : sql`(${v})`);
  await db.execute(sql`
    with written as (
      insert into results (batch_id, line, status, status_code, response, engine_request_id, error, prompt_tokens, completion_tokens, started_at)
      select r.batch_id, r.line, ${o.status}, ${value(o.statusCode)}::int, ${value(o.response)}::text, ${value(o.engineRequestId)}::text,
             ${o.error ? JSON.stringify(o.error) : null}::jsonb, ${value(o.promptTokens)}::int, ${value(o.completionTokens)}::int, now()
      from requests r
      where r.batch_id = ${batchId} and ${o.where ?? sql`true`}
      on conflict do nothing
      returning line, status, prompt_tokens, completion_tokens
    ), sums as (
      select g.id as range_id, count(*) filter (where w.status = 'succeeded')::int as ok, count(*) filter (where w.status = 'failed')::int as bad,
             coalesce(sum(w.prompt_tokens), 0)::bigint as pt, coalesce(sum(w.completion_tokens), 0)::bigint as ct
      from written w
      join requests r on r.batch_id = ${batchId} and r.line = w.line
      join request_ranges g on g.batch_id = r.batch_id and g.model = r.model and g.finished_at is null and r.line between g.first_line and g.last_line
      group by g.id
    ), ${BUMPED_RANGES}
    select count(*) from bumped`);
}
