// Lease path: requests leased and completed per second by the project's queue statements
// (range leases, results written with a response each and kept, heartbeats) against two
// references on the same Postgres in the same run: graphile-worker's jobs per second with its
// batched settings, and a plain COPY of the same result rows into a table with only a primary key.
// Usage: bun scripts/bench/lease-path.ts [--quick] [--jobs 100000] [--workers 4] [--batch 500] [--page 1024] [--copy-streams 4]
// (LEASE_PATH_WRITE=parameters writes the results as array parameters instead of by COPY, as before 2026-12-04.)
//   [--range-lines N] (a diagnostic: ranges of N lines instead of ingest's cut)
import { sql } from 'drizzle-orm';
import { graphileWorker } from './graphile-reference.ts';
import { RESPONSE, runQueueLoop, type AroundRun } from './queue-loop.ts';
import { copyResults } from './result-copy.ts';
import { measurePostgresCpu } from './postgres-cpu.ts';
import { ADMIN_URL, createScratchDatabase, report, round, say, sizesFor } from './support.ts';

/**
 * Both queues take work about 500 lines at a time: the lease's limit (the worker's LEASE_MAX is
 * 512; a range larger than what is asked for is split, so a lease brings at most the limit) and graphile-worker's
 * local queue at the size of its own performance guide, which also runs each instance with 24
 * concurrent jobs and completes in batches (`completeJobBatchDelay: 0`). Results are written 1,024
 * at a time (the worker's FLUSH_MAX). COPY runs as many streams as there are loops.
 */
const SIZES = sizesFor(
  { jobs: 2000, workers: 2, batch: 100, page: 256, copyStreams: 2, rangeLines: 0 },
  { jobs: 100_000, workers: 4, batch: 500, page: 1024, copyStreams: 4, rangeLines: 0 },
);
/** Connections per worker on both sides (graphile-worker needs at least 2 per instance: one listens). */
const CONNECTIONS_PER_WORKER = 2;
const GOAL_GRAPHILE = 2.0;
const GOAL_COPY = 0.5;
const NAME = 'lease-path';

const scratch = await createScratchDatabase(NAME);

/** CPU per 1,000 rows of one side, Postgres's (its backends of the scratch database) and this process's (the clients). */
interface Cpu {
  postgresMs: number | null;
  clientMs: number;
}

/**
 * Runs one side after a checkpoint (so that none falls into another's run), measuring the CPU of
 * its timed part per row: its backends' and this process's, which runs every client.
 */
async function measured<T>(work: (around: AroundRun) => Promise<T>, rowsOf: (run: T) => number): Promise<{ run: T; cpu: Cpu }> {
  await scratch.database.db.execute(sql`checkpoint`);
  let server: { seconds: number } | undefined;
  let client = { user: 0, system: 0 };
  const run = await work(async (timed) => {
    const postgresCpu = await measurePostgresCpu(ADMIN_URL, scratch.name);
    const before = process.cpuUsage();
    try {
      return await timed();
    } finally {
      client = process.cpuUsage(before);
      server = await postgresCpu?.stop();
    }
  });
  const perThousand = (seconds: number) => round((seconds * 1e6) / rowsOf(run), 1);
  return {
    run,
    cpu: { postgresMs: server ? perThousand(server.seconds) : null, clientMs: perThousand((client.user + client.system) / 1e6) },
  };
}
const cpuText = ({ postgresMs, clientMs }: Cpu) => `${postgresMs ?? 'not measured'} / ${clientMs}`;
try {
  const sizes = { ...SIZES, connectionsPerWorker: CONNECTIONS_PER_WORKER };
  say(
    NAME,
    `the project's queue statements: ${SIZES.jobs} requests, ${SIZES.workers} workers, leases of ${SIZES.batch} lines, results written ${SIZES.page} at a time`,
  );
  const { run: ours, cpu: oursCpu } = await measured(
    (around) => runQueueLoop(scratch.url, sizes, around),
    (r) => r.done,
  );
  say(NAME, `graphile-worker: ${SIZES.jobs} jobs, ${SIZES.workers} instances, local queue of ${SIZES.batch}, batched completion`);
  const { run: theirs, cpu: theirCpu } = await measured(
    (around) => graphileWorker(scratch.url, sizes, around),
    (r) => r.done,
  );
  say(NAME, `COPY of ${SIZES.jobs} result rows into a table with only a primary key, ${SIZES.copyStreams} streams`);
  const { run: copySeconds, cpu: copyCpu } = await measured(
    (around) => copyResults(scratch.url, SIZES.jobs, SIZES.copyStreams, around),
    () => SIZES.jobs,
  );
  const oursRate = ours.done / ours.seconds;
  const theirRate = theirs.done / theirs.seconds;
  const copyRate = SIZES.jobs / copySeconds;
  const ratio = oursRate / theirRate;
  const toCopy = oursRate / copyRate;
  const ms = (seconds: number, n: number) => round((seconds / Math.max(1, n)) * 1000, 2);
  const busy = ours.leaseSeconds + ours.writeSeconds + ours.heartbeatSeconds;
  report({
    name: NAME,
    title: 'Lease path',
    result: { value: round(oursRate), unit: 'requests/s', label: 'range lease + result write + heartbeat, results kept' },
    // The table has one reference column: COPY's rate and the second ratio go in its label.
    reference: {
      value: round(theirRate),
      unit: 'jobs/s',
      label: `graphile-worker, batched; COPY of the same result rows ${round(copyRate).toLocaleString('en-US')} rows/s, ratio ${round(toCopy, 3)}`,
    },
    ratio: round(ratio, 3),
    goal: `≥ ${GOAL_GRAPHILE} × graphile-worker; ≥ ${GOAL_COPY} × COPY`,
    pass: ratio >= GOAL_GRAPHILE && toCopy >= GOAL_COPY,
    details: {
      'requests / jobs': SIZES.jobs,
      'concurrent workers': SIZES.workers,
      'connections per worker': CONNECTIONS_PER_WORKER,
      'lease limit / local queue size': SIZES.batch,
      'results per write': SIZES.page,
      'result bytes per request': RESPONSE.length,
      'ranges cut by ingest': ours.ranges,
      'lines per range': ours.rangeLines,
      'queue statements seconds': round(ours.seconds, 2),
      'COPY of the same result rows (rows/s)': round(copyRate),
      'ratio to COPY': round(toCopy, 3),
      'COPY streams': SIZES.copyStreams,
      'COPY seconds': round(copySeconds, 2),
      'graphile-worker seconds': round(theirs.seconds, 2),
      'CPU ms per 1,000 rows, Postgres / clients: queue statements': cpuText(oursCpu),
      'CPU ms per 1,000 rows, Postgres / clients: graphile-worker': cpuText(theirCpu),
      'CPU ms per 1,000 rows, Postgres / clients: COPY': cpuText(copyCpu),
      'lease statements, mean ms (count)': `${ms(ours.leaseSeconds, ours.leases)} (${ours.leases})`,
      'result writes, mean ms (count)': `${ms(ours.writeSeconds, ours.writes)} (${ours.writes})`,
      'heartbeats, mean ms (count)': `${ms(ours.heartbeatSeconds, ours.heartbeats)} (${ours.heartbeats})`,
      "share of the loops' time in lease / write / heartbeat": `${round((100 * ours.leaseSeconds) / busy)}% / ${round((100 * ours.writeSeconds) / busy)}% / ${round((100 * ours.heartbeatSeconds) / busy)}%`,
    },
  });
} finally {
  await scratch.drop();
}
