// The lease path's reference: graphile-worker running no-op jobs with its batched settings.
import { Logger, makeWorkerUtils, runMigrations as installGraphileWorker, runOnce } from 'graphile-worker';
import type { AroundRun, LeasePathSizes } from './queue-loop.ts';

/** Adds the jobs in bulk, then times `workers` graphile-worker instances (runOnce) until the queue is empty. */
export async function graphileWorker(
  url: string,
  sizes: LeasePathSizes,
  around: AroundRun = (work) => work(),
): Promise<{ done: number; seconds: number }> {
  const logger = new Logger(() => (level, message) => {
    if (level === 'error') console.error(`[graphile-worker] ${message}`);
  });
  await installGraphileWorker({ connectionString: url, logger });
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  let done = 0;
  try {
    for (let from = 0; from < sizes.jobs; from += 10_000) {
      await utils.addJobs(
        Array.from({ length: Math.min(10_000, sizes.jobs - from) }, (_, k) => ({ identifier: 'noop', payload: { n: from + k + 1 } })),
      );
    }
    await utils.withPgClient((client) => client.query('vacuum analyze graphile_worker._private_jobs'));
    const started = performance.now();
    await around(() =>
      Promise.all(
        Array.from({ length: sizes.workers }, () =>
          runOnce({
            connectionString: url,
            logger,
            concurrency: 24,
            maxPoolSize: sizes.connectionsPerWorker,
            noHandleSignals: true,
            taskList: {
              noop: async () => {
                done++;
              },
            },
            preset: { worker: { localQueue: { size: sizes.batch }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
          }),
        ),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const { rows: left } = await utils.withPgClient((client) =>
      client.query<{ n: number }>('select count(*)::int as n from graphile_worker._private_jobs'),
    );
    if (left[0]?.n !== 0 || done < sizes.jobs) throw new Error(`graphile-worker left ${left[0]?.n} of ${sizes.jobs} jobs (ran ${done})`);
    return { done, seconds };
  } finally {
    await utils.release();
  }
}
