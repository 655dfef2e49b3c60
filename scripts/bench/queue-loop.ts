// The lease path's worker loop: lease a page, write its results, heartbeat, until the queue is empty.
import { sql } from 'drizzle-orm';
import { completeRequests, createDatabase, heartbeatLeases, insertRequests, leaseRequests, newId, rows, type Database, type LeasedRequest } from '../../schema/index.ts';

/** The worker's FLUSH_MAX: results are written at most this many per statement. */
const RESULT_PAGE = 256;
const HEARTBEAT_MS = 2000;
const LEASE_MS = 6000;

/** A chat completion of about 600 bytes, as the worker writes one per request. */
export const RESPONSE = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(90) }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 100, total_tokens: 110 } });

/** How many requests (jobs), concurrent loops (instances), connections per loop and requests per lease (local queue), on both sides. */
export interface LeasePathSizes {
  jobs: number;
  workers: number;
  batch: number;
  connectionsPerWorker: number;
}

/** The statements a loop runs; the project's own unless a diagnostic replaces one. */
export interface QueueStatements {
  lease(database: Database, owner: string, limit: number): Promise<LeasedRequest[]>;
  /** Finishes a page of the owner's leases; returns how many it finished. */
  finish(database: Database, owner: string, leased: readonly LeasedRequest[]): Promise<number>;
  heartbeat(database: Database, owner: string, ids: readonly number[]): Promise<unknown>;
}

/** The result each request gets in the benchmark: a 200 with {@link RESPONSE}. */
export const resultsOf = (leased: readonly LeasedRequest[]) =>
  leased.map((r) => ({ id: r.id, status: 'succeeded' as const, statusCode: 200, response: RESPONSE, engineRequestId: 'x', error: null, promptTokens: 10, completionTokens: 100 }));

/** The project's statements: lease, each result written under the lease with the batch counters, heartbeat. */
export const PROJECT_STATEMENTS: QueueStatements = {
  lease: (database, owner, limit) => leaseRequests(database.db, { owner, model: 'm', limit, leaseMs: LEASE_MS }),
  async finish(database, owner, leased) {
    const written = await completeRequests(database.db, owner, resultsOf(leased));
    return written.reduce((sum, c) => sum + c.written, 0);
  },
  heartbeat: (database, owner, ids) => heartbeatLeases(database.db, { owner, leaseMs: LEASE_MS, ids }),
};

/** A diagnostic, not the project's statement: the row is deleted as graphile-worker deletes a finished job, nothing kept. */
export const DELETING_STATEMENTS: QueueStatements = {
  ...PROJECT_STATEMENTS,
  async finish(database, owner, leased) {
    const gone = await rows<{ n: number }>(
      database.db,
      sql`with gone as (delete from requests where id = any(${`{${leased.map((r) => r.id).join(',')}}`}::bigint[]) and lease_owner = ${owner} returning 1)
          select count(*)::int as n from gone`,
    );
    return gone[0]?.n ?? 0;
  },
};

/** Queues the jobs with ingest's own statement, then runs `workers` loops of lease, heartbeat and finish, in pages of the worker's size. */
export async function runQueueLoop(url: string, sizes: LeasePathSizes, statements: QueueStatements): Promise<{ done: number; seconds: number }> {
  const database = await createDatabase({ url, maxConnections: sizes.workers * sizes.connectionsPerWorker, applicationName: 'vbs-bench-lease' });
  try {
    await database.db.execute(sql`truncate requests`);
    const batchId = newId('batch_');
    await database.db.execute(sql`insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, total, expires_at)
      values (${batchId}, 'bench', '/v1/chat/completions', 'm', '24h', 'in_progress', 'file-bench', ${sizes.jobs}, now() + interval '1 day')`);
    for (let from = 0; from < sizes.jobs; from += 500) {
      const page = Array.from({ length: Math.min(500, sizes.jobs - from) }, (_, k) => ({ line: from + k + 1, customId: `req-${from + k + 1}`, model: 'm', body: `{"model":"m","messages":[{"role":"user","content":"question ${from + k + 1}"}]}` }));
      await insertRequests(database.db, batchId, 0, page);
    }
    await database.db.execute(sql`vacuum analyze requests`);
    let done = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: sizes.workers }, async (_, i) => {
        const owner = `bench-${i}`;
        let beatAt = performance.now();
        for (;;) {
          const leased = await statements.lease(database, owner, sizes.batch);
          if (leased.length === 0) break;
          for (let k = 0; k < leased.length; k += RESULT_PAGE) {
            if (performance.now() - beatAt > HEARTBEAT_MS) {
              await statements.heartbeat(database, owner, leased.slice(k).map((r) => r.id));
              beatAt = performance.now();
            }
            const finished = await statements.finish(database, owner, leased.slice(k, k + RESULT_PAGE));
            done += finished;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (done !== sizes.jobs) throw new Error(`the queue statements finished ${done} of ${sizes.jobs} requests`);
    return { done, seconds };
  } finally {
    await database.close();
  }
}
