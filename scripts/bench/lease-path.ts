// Lease path: requests leased and completed per second by the project's queue statements
// (lease, write results with a response each, heartbeat) against graphile-worker's jobs per
// second with its batched settings, on the same Postgres, with the same job count, workers and
// connections. Usage: bun scripts/bench/lease-path.ts [--quick] [--jobs 100000] [--workers 4] [--batch 500]
import { graphileWorker } from './graphile-reference.ts';
import { CEILING, FEWER_INDEXES, type LeaseVariant } from './lease-variants.ts';
import { DELETING_STATEMENTS, PROJECT_STATEMENTS, RESPONSE, runQueueLoop, type LeasePathSizes } from './queue-loop.ts';
import { createScratchDatabase, report, round, say, sizesFor } from './support.ts';

/**
 * Both sides take work 500 at a time: the worker's lease statement (LEASE_MAX is 512) and
 * graphile-worker's local queue at the size of its own performance guide, which also runs
 * each instance with 24 concurrent jobs and completes in batches (`completeJobBatchDelay: 0`).
 */
const SIZES = sizesFor({ jobs: 2000, workers: 2, batch: 100 }, { jobs: 100_000, workers: 4, batch: 500 });
/** Connections per worker on both sides (graphile-worker needs at least 2 per instance: one listens). */
const CONNECTIONS_PER_WORKER = 2;
const NAME = 'lease-path';

/** Runs the loop with a variant's statements on a scratch database of its own, changed by the variant first. */
async function runVariant(variant: LeaseVariant, sizes: LeasePathSizes) {
  const own = await createScratchDatabase(`${NAME}-variant`);
  try {
    await variant.prepare(own.database);
    return await runQueueLoop(own.url, sizes, variant.statements);
  } finally {
    await own.drop();
  }
}

const scratch = await createScratchDatabase(NAME);
try {
  say(NAME, `the project's queue statements: ${SIZES.jobs} requests, ${SIZES.workers} workers, leases of ${SIZES.batch}`);
  const sizes = { ...SIZES, connectionsPerWorker: CONNECTIONS_PER_WORKER };
  const ours = await runQueueLoop(scratch.url, sizes, PROJECT_STATEMENTS);
  say(NAME, 'the same loop deleting each finished row instead of writing its result (a diagnostic)');
  const deleting = await runQueueLoop(scratch.url, sizes, DELETING_STATEMENTS);
  say(NAME, 'the same statements without the three secondary indexes, then on the most cut-down schema a per-request lease allows (diagnostics)');
  const fewerIndexes = await runVariant(FEWER_INDEXES, sizes);
  const ceiling = await runVariant(CEILING, sizes);
  say(NAME, `graphile-worker: ${SIZES.jobs} jobs, ${SIZES.workers} instances, local queue of ${SIZES.batch}, batched completion`);
  const theirs = await graphileWorker(scratch.url, sizes);
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
      'without the batch-status, lease-owner and finished indexes (ratio)': round(fewerIndexes.done / fewerIndexes.seconds / theirRate, 3),
      'ceiling of a per-request lease: keys and queue index only, HOT result writes (ratio)': round(ceiling.done / ceiling.seconds / theirRate, 3),
      'graphile-worker seconds': round(theirs.seconds, 2),
    },
  });
} finally {
  await scratch.drop();
}
