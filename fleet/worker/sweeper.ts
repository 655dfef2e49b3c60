import { publishBatchStatuses, publishWorkerEvent, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import { createPeriodic } from '../../core/loop.ts';
import { markLostWorkers, RETURNED_LEASE_STATES, reapLeases, sweepBatches, unsettledBatches, type Database } from '../../schema/index.ts';
import { afterReturnedLeases, settleAndPublish } from './settle.ts';

/** Options for {@link createSweeper}. */
export interface SweeperOptions {
  database: Database;
  bus: EventBus;
  logger: Logger;
  maxAttempts: number;
  /** How often expired leases are reaped. */
  reapMs: number;
  /** How often batches (expiry, stuck finalization, unsettled) and silent workers are swept. */
  sweepMs: number;
  /** A worker whose heartbeat is older than this is marked lost. */
  workerStaleMs: number;
  /** Returns the leases of a worker with no connection left and a heartbeat this late (Postgres only); see `reapLeases`. */
  orphanGraceMs?: number | undefined;
}

/**
 * The housekeeping every live fleet process runs: returns expired leases to the queue
 * (or fails them after `maxAttempts`), settles batches that time moved on (expiry, a
 * finalizer that died, a writer that died before settling), and marks silent workers
 * lost. Every statement takes its rows with SKIP LOCKED or a conditional update, so any
 * number of sweepers may run at once.
 */
export function createSweeper(options: SweeperOptions) {
  const { database, bus, logger } = options;

  const reap = async () => {
    try {
      const returned = await reapLeases(database.db, {
        maxAttempts: options.maxAttempts,
        ...(options.orphanGraceMs === undefined ? {} : { orphanGraceMs: options.orphanGraceMs }),
      });
      if (returned.length === 0) return;
      const counts = Object.fromEntries(
        RETURNED_LEASE_STATES.map((s) => [s, returned.filter((r) => r.status === s).reduce((n, r) => n + r.n, 0)]),
      );
      logger.info('returned expired leases', counts);
      await afterReturnedLeases(options, returned);
    } catch (err) {
      logger.warn('reaping leases failed; trying again', { err });
    }
  };

  const sweep = async () => {
    try {
      const transitions = await sweepBatches(database.db);
      if (transitions.length) await publishBatchStatuses(bus, transitions);
      const unsettled = await unsettledBatches(database.db);
      if (unsettled.length) await settleAndPublish(options, unsettled);
      for (const lost of await markLostWorkers(database.db, { staleMs: options.workerStaleMs })) {
        logger.warn('a worker stopped heartbeating; marked lost', { lostWorker: lost.id, host: lost.host, gpu: lost.gpu });
        await publishWorkerEvent(bus, {
          type: 'worker.heartbeat_lost',
          workerId: lost.id,
          host: lost.host,
          gpu: lost.gpu,
          model: lost.model,
        });
      }
    } catch (err) {
      logger.warn('sweeping batches failed; trying again', { err });
    }
  };

  // A slow database must not pile up reaps or sweeps: a tick that finds the last one running is skipped.
  const loops = [createPeriodic(reap, options.reapMs), createPeriodic(sweep, options.sweepMs)];
  return {
    start() {
      for (const loop of loops) loop.start();
    },
    stop() {
      for (const loop of loops) loop.stop();
    },
  };
}
