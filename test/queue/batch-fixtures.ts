import { sql } from 'drizzle-orm';
import { batches, cutRanges, newId, requests, rows, type Database, type LeasedRequest, type RequestResult } from '../../schema/index.ts';

/** Options for {@link insertBatch}. */
export interface InsertBatchOptions {
  count: number;
  model?: string;
  owner?: string;
  priority?: number;
  handlers?: Record<string, unknown>;
  expiresInSeconds?: number;
  /** Cut the lines into ranges of this many lines, instead of as ingest cuts them (one range per line up to 256 lines). */
  rangeLines?: number;
}

/** Inserts an `in_progress` batch with `count` queued requests cut into ranges, as ingest would leave it. */
export async function insertBatch(
  database: Database,
  { count, model = 'sim-model', owner = 'local', priority = 0, handlers = {}, expiresInSeconds = 3600, rangeLines }: InsertBatchOptions,
) {
  const id = newId('batch_');
  await database.db.insert(batches).values({
    id,
    owner,
    endpoint: '/v1/chat/completions',
    model,
    completionWindow: '24h',
    status: 'in_progress',
    inputFileId: newId('file-'),
    handlers,
    priority,
    total: count,
    inProgressAt: new Date(),
    expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
  });
  if (count === 0) return id;
  await database.db.insert(requests).values(
    Array.from({ length: count }, (_, i) => ({
      batchId: id,
      line: i + 1,
      customId: `req-${i + 1}`,
      model,
      priority,
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `question ${i + 1}` }] }),
    })),
  );
  if (rangeLines === undefined) await cutRanges(database.db, id);
  else {
    await database.db.execute(sql`
      insert into request_ranges (batch_id, model, owner, priority, first_line, last_line, size)
      select ${id}, ${model}, ${owner}, ${priority}, s, least(s + ${rangeLines - 1}, ${count}), least(s + ${rangeLines - 1}, ${count}) - s + 1
      from generate_series(1, ${count}, ${rangeLines}) s`);
  }
  return id;
}

/**
 * Answers lines of a batch as a worker would: a result row each (succeeded lines get a body,
 * failed ones the engine's 4xx), counted on the open range holding the line, which finishes
 * when every line of it has a result.
 */
export async function answer(database: Database, batchId: string, lines: number[], outcome: 'succeeded' | 'failed') {
  const failed = outcome === 'failed';
  const body = failed
    ? JSON.stringify({ object: 'error', message: 'bad request', type: 'BadRequestError', code: 400 })
    : JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok "quoted"' } }],
      });
  const written = await rows<{ line: number }>(
    database.db,
    sql`
      insert into results (batch_id, line, status, status_code, response, engine_request_id, prompt_tokens, completion_tokens)
      select ${batchId}, l, ${outcome}, ${failed ? 400 : 200}, ${body}, 'chatcmpl-' || l, 0, 0
      from unnest(${`{${lines.join(',')}}`}::int[]) l
      on conflict do nothing
      returning line`,
  );
  for (const { line } of written) {
    await database.db.execute(sql`
      update request_ranges g
      set ${sql.raw(failed ? 'failed' : 'succeeded')} = g.${sql.raw(failed ? 'failed' : 'succeeded')} + 1,
          finished_at = case when g.succeeded + g.failed + 1 >= g.size then now() end,
          lease_owner = case when g.succeeded + g.failed + 1 >= g.size then null else g.lease_owner end,
          lease_expires_at = case when g.succeeded + g.failed + 1 >= g.size then null else g.lease_expires_at end
      from requests r
      where r.batch_id = ${batchId} and r.line = ${line}
        and g.batch_id = r.batch_id and g.model = r.model and g.finished_at is null and r.line between g.first_line and g.last_line`);
  }
}

/** Each status of a batch's requests (from the view `request_states`) and how many have it. */
export function statuses(database: Database, batchId: string) {
  return rows<{ status: string; n: number }>(
    database.db,
    sql`select status, count(*)::int as n from request_states where batch_id = ${batchId} group by status order by status`,
  );
}

/** Makes the leases `owner` holds look expired, as if its heartbeat had stopped long ago. */
export async function expireLeases(database: Database, owner: string) {
  await database.db.execute(sql`update request_ranges set lease_expires_at = now() - interval '1 second' where lease_owner = ${owner}`);
}

/** Registers `count` live workers serving `model`, as their heartbeats leave them. */
export async function liveWorkers(database: Database, model: string, count: number, completionRate = 0) {
  await database.db.execute(sql`
    insert into workers (id, host, gpu, pid, model, engine_url, status, completion_rate)
    select ${model} || '-gpu-' || i, 'h', i::text, i, ${model}, 'http://engine', 'ready', ${completionRate}
    from generate_series(1, ${count}) i`);
}

/** A succeeded result of a leased request, as the worker hands it to its writer; `fields` change any part of it. */
export function succeededResult(r: LeasedRequest, fields: Partial<RequestResult> = {}): RequestResult {
  return {
    id: r.id,
    rangeId: r.rangeId,
    batchId: r.batchId,
    line: r.line,
    startedAtMs: Date.now(),
    status: 'succeeded',
    statusCode: 200,
    response: JSON.stringify({ id: `chatcmpl-${r.id}`, object: 'chat.completion', choices: [] }),
    engineRequestId: `chatcmpl-${r.id}`,
    error: null,
    promptTokens: 3,
    completionTokens: 5,
    ...fields,
  };
}
