import { sql } from 'drizzle-orm';
import { batches, newId, requests, type Database } from '../../schema/index.ts';

/** Options for {@link insertBatch}. */
export interface InsertBatchOptions {
  count: number;
  model?: string;
  owner?: string;
  handlers?: Record<string, unknown>;
  expiresInSeconds?: number;
}

/** Inserts an `in_progress` batch with `count` queued requests, as ingest would leave it. */
export async function insertBatch(database: Database, { count, model = 'sim-model', owner = 'local', handlers = {}, expiresInSeconds = 3600 }: InsertBatchOptions) {
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
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `question ${i + 1}` }] }),
    })),
  );
  return id;
}

/** Answers requests of a batch as a worker would: succeeded lines get a body, failed ones the engine's 4xx. */
export async function answer(database: Database, batchId: string, lines: number[], outcome: 'succeeded' | 'failed') {
  const failed = outcome === 'failed';
  const body = failed
    ? JSON.stringify({ object: 'error', message: 'bad request', type: 'BadRequestError', code: 400 })
    : JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'ok "quoted"' } }] });
  await database.db.execute(sql`
    update requests set status = ${outcome}, status_code = ${failed ? 400 : 200}, response = ${body},
      engine_request_id = 'chatcmpl-' || line, finished_at = now(), lease_owner = null
    where batch_id = ${batchId} and line in (${sql.join(lines.map((l) => sql`${l}`), sql`, `)})`);
  await database.db.execute(sql`
    update batches set ${sql.raw(failed ? 'failed' : 'completed')} = ${sql.raw(failed ? 'failed' : 'completed')} + ${lines.length}
    where id = ${batchId}`);
}
