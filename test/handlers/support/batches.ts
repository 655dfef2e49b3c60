import { sql } from 'drizzle-orm';
import { newId, rows, settleBatch, type Database } from '../../../schema/index.ts';

/** Options for {@link finishedBatch}. */
export interface FinishedBatchOptions {
  /** Requests answered with a chat completion. */
  succeeded?: number;
  /** Requests that failed (they go to the error file). */
  failed?: number;
  handlers?: Record<string, unknown>;
  owner?: string;
}

/**
 * A batch that ran to `completed` the way the fleet leaves it: requests answered, then
 * settled, which finalizes it and creates its handler runs in the same transaction.
 */
export async function finishedBatch(
  database: Database,
  { succeeded = 3, failed = 0, handlers = {}, owner = 'local' }: FinishedBatchOptions = {},
): Promise<string> {
  const id = newId('batch_');
  const total = succeeded + failed;
  await database.db.execute(sql`
    insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, handlers, total, in_progress_at, expires_at)
    values (${id}, ${owner}, '/v1/chat/completions', 'sim-model', '24h', 'in_progress', ${newId('file-')}, ${JSON.stringify(handlers)}::jsonb,
            ${total}, now(), now() + interval '1 day')`);
  // Built by Postgres: 5,000 rows are one statement. The lines are counted on one finished range.
  await database.db.execute(sql`
    insert into requests (batch_id, line, custom_id, model, body)
    select ${id}, g, 'req-' || g, 'sim-model', '{"model":"sim-model","messages":[]}'
    from generate_series(1, ${total}) g`);
  await database.db.execute(sql`
    insert into results (batch_id, line, status, status_code, response, engine_request_id, error)
    select ${id}, g,
           case when g <= ${succeeded} then 'succeeded' else 'failed' end,
           case when g <= ${succeeded} then 200 end,
           case when g <= ${succeeded} then json_build_object('id', 'chatcmpl-' || g, 'object', 'chat.completion',
             'choices', json_build_array(json_build_object('index', 0, 'message', json_build_object('role', 'assistant', 'content', 'answer ' || g))))::text end,
           'chatcmpl-' || g,
           case when g > ${succeeded} then '{"code":"engine_error","message":"the engine failed"}'::jsonb end
    from generate_series(1, ${total}) g`);
  await database.db.execute(sql`
    insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, attempts, finished_at)
    select ${id}, 'sim-model', ${owner}, 1, ${total}, ${total}, ${succeeded}, ${failed}, 1, now() where ${total} > 0`);
  const transitions = await settleBatch(database.db, id);
  if (!transitions.some((t) => t.to === 'completed'))
    throw new Error(`finishedBatch: ${id} did not complete (${JSON.stringify(transitions)})`);
  return id;
}

/** A handler run's row, for assertions. */
export interface RunState {
  id: number;
  handler: string;
  event: string;
  status: string;
  attempts: number;
  last_error: string | null;
  result: unknown;
  checkpoint: unknown;
}

/** The handler runs of a batch. */
export async function runsOf(database: Database, batchId: string): Promise<RunState[]> {
  const found = await rows<RunState & { result: string | null; checkpoint: string | null }>(
    database.db,
    sql`select id::float8 as id, handler, event, status, attempts, last_error, result::text as result, checkpoint::text as checkpoint
        from handler_runs where batch_id = ${batchId} order by handler`,
  );
  return found.map((r) => ({ ...r, result: r.result && JSON.parse(r.result), checkpoint: r.checkpoint && JSON.parse(r.checkpoint) }));
}

/** Waits until every run of the batch has ended (succeeded, skipped or dead). */
export async function runsEnded(database: Database, batchId: string, timeoutMs = 20_000): Promise<RunState[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = await runsOf(database, batchId);
    if (runs.length && runs.every((r) => ['succeeded', 'skipped', 'dead'].includes(r.status))) return runs;
    if (Date.now() > deadline) throw new Error(`handler runs of ${batchId} did not end: ${JSON.stringify(runs)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
