import type { Logger } from '../../core/logger.ts';
import { heartbeatLeases, stopRequests, type Database } from '../../schema/index.ts';

/** Options for {@link createLeaseHeartbeat}. */
export interface LeaseHeartbeatOptions {
  database: Database;
  owner: string;
  leaseMs: number;
  logger: Logger;
  /** The requests the worker holds now (in flight or buffered): droppable. */
  held: () => Set<number>;
  /** Results waiting to be written: their leases are extended too, but they are past aborting. */
  writing: () => number[];
  /** Aborts the given requests if still held; returns the ones that were. */
  drop: (ids: ReadonlySet<number>) => number[];
  settle: (batchIds: string[]) => Promise<void>;
  onFailure?: () => void;
}

/**
 * One heartbeat: extends every lease of the worker, aborts the streams of stopping batches
 * (cancelled, or past their window) and marks them with `stopRequests`, and drops requests
 * whose lease is no longer ours (reaped while this worker was cut off) so the engine stops
 * spending a slot on work another worker now owns. Overlapping beats are skipped.
 */
export function createLeaseHeartbeat({ database, owner, leaseMs, logger, held, writing, drop, settle, onFailure }: LeaseHeartbeatOptions) {
  let running = false;
  let failures = 0;
  return {
    async beat(): Promise<void> {
      if (running) return;
      running = true;
      try {
        const before = held();
        const leases = await heartbeatLeases(database.db, { owner, leaseMs, ids: [...before, ...writing()] });
        failures = 0;
        const ours = new Set(leases.map((l) => l.id));
        const lost = new Set([...before].filter((id) => !ours.has(id)));
        const stopping = new Set(leases.filter((l) => l.stop && before.has(l.id)).map((l) => l.id));
        if (lost.size) {
          const dropped = drop(lost);
          if (dropped.length) logger.warn('leases were taken from this worker (it was cut off too long); their streams are aborted', { requests: dropped.length });
        }
        if (stopping.size) {
          const aborted = drop(stopping);
          const batchIds = await stopRequests(database.db, owner, aborted);
          logger.info('aborted streams of stopping batches', { requests: aborted.length, batches: batchIds });
          // Not awaited: settling may finalize a large batch, and the next beats must not wait for that while this worker's other leases run out.
          void settle(batchIds).catch((err: unknown) => logger.warn('settling stopped batches failed; the sweeper will', { err, batches: batchIds }));
        }
      } catch (err) {
        onFailure?.();
        if (failures++ % 10 === 0) logger.warn('lease heartbeat failed; trying again', { err });
      } finally {
        running = false;
      }
    },
  };
}
