// Lease path: requests leased and completed per second by the project's queue statements
// (lease, write results with a response each, heartbeat) against graphile-worker's jobs per
// second with its batched settings, on the same Postgres, with the same job count, workers and
// connections. Usage: bun scripts/bench/lease-path.ts [--quick] [--jobs 100000] [--workers 4] [--batch 500]
import { sql } from 'drizzle-orm';
import { Logger, makeWorkerUtils, runMigrations as installGraphileWorker, runOnce } from 'graphile-worker';
import { completeRequests, createDatabase, heartbeatLeases, insertRequests, leaseRequests, newId, rows, type Database, type LeasedRequest } from '../../schema/index.ts';
import { createScratchDatabase, report, round, say, sizesFor } from './support.ts';

/**
 * Both sides take work 500 at a time: the worker's lease statement (LEASE_MAX is 512) and
 * graphile-worker's local queue at the size of its own performance guide, which also runs
 * each instance with 24 concurrent jobs and completes in batches (`completeJobBatchDelay: 0`).
 */
const SIZES = sizesFor({ jobs: 2000, workers: 2, batch: 100 }, { jobs: 100_000, workers: 4, batch: 500 });
/** Connections per worker on both sides (graphile-worker needs at least 2 per instance: one listens). */
const CONNECTIONS_PER_WORKER = 2;
/** The worker's FLUSH_MAX: results are written at most this many per statement. */
const RESULT_PAGE = 256;
const HEARTBEAT_MS = 2000;
const NAME = 'lease-path';

/** A chat completion of about 600 bytes, as the worker writes one per request. */
const RESPONSE = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(90) }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 100, total_tokens: 110 } });

/** How a worker loop finishes a page of its leases; returns how many it finished. */
type Finish = (database: Database, owner: string, leased: readonly LeasedRequest[]) => Promise<number>;

/** The project's way: each result written under the lease, with the batch counters, in one statement. */
const writeResults: Finish = async (database, owner, leased) => {
  const results = leased.map((r) => ({ id: r.id, status: 'succeeded' as const, statusCode: 200, response: RESPONSE, engineRequestId: 'x', error: null, promptTokens: 10, completionTokens: 100 }));
  const written = await completeRequests(database.db, owner, results);
  return written.reduce((sum, c) => sum + c.written, 0);
};

/** A diagnostic, not the project's statement: the row is deleted as graphile-worker deletes a finished job, nothing kept. */
const deleteRows: Finish = async (database, owner, leased) => {
  const gone = await rows<{ n: number }>(
    database.db,
    sql`with gone as (delete from requests where id = any(${`{${leased.map((r) => r.id).join(',')}}`}::bigint[]) and lease_owner = ${owner} returning 1)
        select count(*)::int as n from gone`,
  );
  return gone[0]?.n ?? 0;
};

/** Queues the jobs with ingest's own statement, then runs `workers` loops of lease, heartbeat and `finish`, in pages of the worker's size. */
async function projectQueue(url: string, finish: Finish): Promise<{ done: number; seconds: number }> {
  const database = await createDatabase({ url, maxConnections: SIZES.workers * CONNECTIONS_PER_WORKER, applicationName: 'vbs-bench-lease' });
  try {
    await database.db.execute(sql`truncate requests`);
    const batchId = newId('batch_');
    await database.db.execute(sql`insert into batches (id, owner, endpoint, model, completion_window, status, input_file_id, total, expires_at)
      values (${batchId}, 'bench', '/v1/chat/completions', 'm', '24h', 'in_progress', 'file-bench', ${SIZES.jobs}, now() + interval '1 day')`);
    for (let from = 0; from < SIZES.jobs; from += 500) {
      const page = Array.from({ length: Math.min(500, SIZES.jobs - from) }, (_, k) => ({ line: from + k + 1, customId: `req-${from + k + 1}`, model: 'm', body: `{"model":"m","messages":[{"role":"user","content":"question ${from + k + 1}"}]}` }));
      await insertRequests(database.db, batchId, 0, page);
    }
    await database.db.execute(sql`vacuum analyze requests`);
    let done = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SIZES.workers }, async (_, i) => {
        const owner = `bench-${i}`;
        let beatAt = performance.now();
        for (;;) {
          const leased = await leaseRequests(database.db, { owner, model: 'm', limit: SIZES.batch, leaseMs: 6000 });
          if (leased.length === 0) break;
          for (let k = 0; k < leased.length; k += RESULT_PAGE) {
            if (performance.now() - beatAt > HEARTBEAT_MS) {
              await heartbeatLeases(database.db, { owner, leaseMs: 6000, ids: leased.slice(k).map((r) => r.id) });
              beatAt = performance.now();
            }
            const finished = await finish(database, owner, leased.slice(k, k + RESULT_PAGE));
            done += finished;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (done !== SIZES.jobs) throw new Error(`the queue statements finished ${done} of ${SIZES.jobs} requests`);
    return { done, seconds };
  } finally {
    await database.close();
  }
}

/** Adds the jobs in bulk, then times `workers` graphile-worker instances (runOnce) until the queue is empty. */
async function graphileWorker(url: string): Promise<{ done: number; seconds: number }> {
  const logger = new Logger(() => (level, message) => {
    if (level === 'error') console.error(`[graphile-worker] ${message}`);
  });
  await installGraphileWorker({ connectionString: url, logger });
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  let done = 0;
  try {
    for (let from = 0; from < SIZES.jobs; from += 10_000) {
      await utils.addJobs(Array.from({ length: Math.min(10_000, SIZES.jobs - from) }, (_, k) => ({ identifier: 'noop', payload: { n: from + k + 1 } })));
    }
    await utils.withPgClient((client) => client.query('vacuum analyze graphile_worker._private_jobs'));
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SIZES.workers }, () =>
        runOnce({
          connectionString: url,
          logger,
          concurrency: 24,
          maxPoolSize: CONNECTIONS_PER_WORKER,
          noHandleSignals: true,
          taskList: {
            noop: async () => {
              done++;
            },
          },
          preset: { worker: { localQueue: { size: SIZES.batch }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const { rows: left } = await utils.withPgClient((client) => client.query<{ n: number }>('select count(*)::int as n from graphile_worker._private_jobs'));
    if (left[0]?.n !== 0 || done < SIZES.jobs) throw new Error(`graphile-worker left ${left[0]?.n} of ${SIZES.jobs} jobs (ran ${done})`);
    return { done, seconds };
  } finally {
    await utils.release();
  }
}

const scratch = await createScratchDatabase(NAME);
try {
  say(NAME, `the project's queue statements: ${SIZES.jobs} requests, ${SIZES.workers} workers, leases of ${SIZES.batch}`);
  const ours = await projectQueue(scratch.url, writeResults);
  say(NAME, 'the same loop deleting each finished row instead of writing its result (a diagnostic)');
  const deleting = await projectQueue(scratch.url, deleteRows);
  say(NAME, `graphile-worker: ${SIZES.jobs} jobs, ${SIZES.workers} instances, local queue of ${SIZES.batch}, batched completion`);
  const theirs = await graphileWorker(scratch.url);
  const oursRate = ours.done / ours.seconds;
  const theirRate = theirs.done / theirs.seconds;
  report({
    name: NAME,
    title: 'Lease path',
    result: { value: round(oursRate), unit: 'requests/s', label: 'lease + result write + heartbeat' },
    reference: { value: round(theirRate), unit: 'jobs/s', label: 'graphile-worker, batched' },
    ratio: round(oursRate / theirRate, 3),
    goal: '≥ 1.0',
    pass: oursRate >= theirRate,
    details: {
      'requests / jobs': SIZES.jobs,
      'concurrent workers': SIZES.workers,
      'connections per worker': CONNECTIONS_PER_WORKER,
      'lease size / local queue size': SIZES.batch,
      'result bytes per request': RESPONSE.length,
      'queue statements seconds': round(ours.seconds, 2),
      'the same loop deleting rows instead of writing results (requests/s)': round(deleting.done / deleting.seconds),
      'graphile-worker seconds': round(theirs.seconds, 2),
    },
  });
} finally {
  await scratch.drop();
}
