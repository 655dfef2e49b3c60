// The lease path's worker loop: lease ranges, write their results a page at a time, heartbeat, until the queue is empty.
import { sql } from 'drizzle-orm';
import {
  completeRequests,
  createDatabase,
  heartbeatLeases,
  leaseRequests,
  registerWorker,
  rows,
  type LeasedRequest,
  type RequestResult,
} from '../../schema/index.ts';
import { queueBatch } from './support.ts';

const HEARTBEAT_MS = 2000;
const LEASE_MS = 6000;
const MODEL = 'sim-model';

/** A chat completion of about 600 bytes, as the worker writes one per request. */
export const RESPONSE = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: MODEL,
  choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(90) }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 100, total_tokens: 110 },
});

/** The engine request id every result carries. */
export const ENGINE_REQUEST_ID = 'chatcmpl-bench';

/** How many requests (jobs), concurrent loops (instances), connections per loop, lines asked per lease (local queue) and results per write. */
export interface LeasePathSizes {
  jobs: number;
  workers: number;
  /** The lease's `limit` (the worker's LEASE_MAX); graphile-worker's local queue size. */
  batch: number;
  /** Results per write (the worker's FLUSH_MAX). */
  page: number;
  /** A diagnostic: recut the batch into ranges of this many lines after ingest (0: as ingest cut it). */
  rangeLines: number;
  connectionsPerWorker: number;
}

/** What the loops did, and where their time went (summed over the loops, so up to `workers` × the wall time). */
export interface QueueLoopRun {
  done: number;
  seconds: number;
  ranges: number;
  /** Lines per range as ingest cut them (the largest). */
  rangeLines: number;
  leases: number;
  writes: number;
  heartbeats: number;
  leaseSeconds: number;
  writeSeconds: number;
  heartbeatSeconds: number;
}

/** Wraps the timed part of a run (a CPU measurement around it); the setup before it stays outside. */
export type AroundRun = <T>(work: () => Promise<T>) => Promise<T>;

/** The result each request gets in the benchmark: a 200 with {@link RESPONSE}, started when it was leased. */
export const resultsOf = (leased: readonly LeasedRequest[], startedAtMs: number): RequestResult[] =>
  leased.map((r) => ({
    id: r.id,
    rangeId: r.rangeId,
    batchId: r.batchId,
    line: r.line,
    startedAtMs,
    status: 'succeeded',
    statusCode: 200,
    response: RESPONSE,
    engineRequestId: ENGINE_REQUEST_ID,
    error: null,
    promptTokens: 10,
    completionTokens: 100,
  }));

/**
 * Queues the jobs through ingest's own path (so the ranges are cut as in production), then runs
 * `workers` loops, each registered as a live worker: lease (`leaseRequests`, up to `batch` lines,
 * splitting a range when needed), write the results `page` at a time (`completeRequests`), and heartbeat the
 * ranges still held every 2 s (`heartbeatLeases`), as the worker does.
 */
export async function runQueueLoop(url: string, sizes: LeasePathSizes, around: AroundRun = (work) => work()): Promise<QueueLoopRun> {
  const database = await createDatabase({
    url,
    maxConnections: sizes.workers * sizes.connectionsPerWorker,
    applicationName: 'vbs-bench-lease',
  });
  // As the worker writes on Postgres, by COPY; LEASE_PATH_WRITE=parameters, a diagnostic, as array parameters.
  const copy = process.env.LEASE_PATH_WRITE === 'parameters' ? undefined : database.copyTransaction;
  try {
    await queueBatch(database, {
      lines: sizes.jobs,
      model: MODEL,
      body: (line) => `{"model":"${MODEL}","messages":[{"role":"user","content":"question ${line}"}]}`,
    });
    if (sizes.rangeLines > 0) {
      await database.db.execute(sql`
        with gone as (delete from request_ranges returning batch_id, model, owner, priority)
        insert into request_ranges (batch_id, model, owner, priority, first_line, last_line, size)
        select r.batch_id, r.model, g.owner, g.priority, min(r.line), max(r.line), count(*)::int
        from requests r join (select distinct batch_id, model, owner, priority from gone) g on g.batch_id = r.batch_id and g.model = r.model
        group by r.batch_id, r.model, g.owner, g.priority, (r.line - 1) / ${sizes.rangeLines}::int`);
    }
    await database.db.execute(sql`vacuum analyze requests, request_ranges`);
    const [cut] = await rows<{ ranges: number; lines: number }>(
      database.db,
      sql`select count(*)::int as ranges, max(size)::int as lines from request_ranges`,
    );
    const owners = Array.from({ length: sizes.workers }, (_, i) => `bench-${i}`);
    for (const owner of owners) {
      await registerWorker(database.db, {
        id: owner,
        host: 'bench',
        gpu: owner,
        pid: process.pid,
        runtime: 'bun',
        model: MODEL,
        engineUrl: 'http://bench',
        status: 'ready',
      });
    }
    const run: QueueLoopRun = {
      done: 0,
      seconds: 0,
      ranges: cut!.ranges,
      rangeLines: cut!.lines,
      leases: 0,
      writes: 0,
      heartbeats: 0,
      leaseSeconds: 0,
      writeSeconds: 0,
      heartbeatSeconds: 0,
    };
    const timed = async <T>(work: () => Promise<T>, add: (seconds: number) => void): Promise<T> => {
      const at = performance.now();
      try {
        return await work();
      } finally {
        add((performance.now() - at) / 1000);
      }
    };
    const started = performance.now();
    await around(() =>
      Promise.all(
        owners.map(async (owner) => {
          let beatAt = performance.now();
          for (;;) {
            const leased = await timed(
              () => leaseRequests(database.db, { owner, model: MODEL, limit: sizes.batch, leaseMs: LEASE_MS }),
              (s) => (run.leaseSeconds += s),
            );
            if (leased.length === 0) break;
            run.leases++;
            const leasedAt = Date.now();
            for (let k = 0; k < leased.length; k += sizes.page) {
              if (performance.now() - beatAt > HEARTBEAT_MS) {
                const held = [...new Set(leased.slice(k).map((r) => r.rangeId))];
                await timed(
                  () => heartbeatLeases(database.db, { owner, leaseMs: LEASE_MS, ids: held }),
                  (s) => (run.heartbeatSeconds += s),
                );
                run.heartbeats++;
                beatAt = performance.now();
              }
              const counters = await timed(
                () => completeRequests(database.db, owner, resultsOf(leased.slice(k, k + sizes.page), leasedAt), copy),
                (s) => (run.writeSeconds += s),
              );
              run.writes++;
              run.done += counters.reduce((sum, c) => sum + c.written, 0);
            }
          }
        }),
      ),
    );
    run.seconds = (performance.now() - started) / 1000;
    if (run.done !== sizes.jobs) throw new Error(`the queue statements finished ${run.done} of ${sizes.jobs} requests`);
    const [kept] = await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from results where status = 'succeeded' and response is not null`,
    );
    if (kept?.n !== sizes.jobs) throw new Error(`the results table holds ${kept?.n} of ${sizes.jobs} results`);
    return run;
  } finally {
    await database.close();
  }
}
