import type { Logger } from '../../core/logger.ts';
import { heartbeatLeases, stopRequests, type Database } from '../../schema/index.ts';

/** The ranges a worker holds jobs of, each with the number of the lease that gave it them (a range reaped and leased again gets a new one). */
export type HeldRanges = ReadonlyMap<number, number>;

/** Options for {@link createLeaseHeartbeat}. */
export interface LeaseHeartbeatOptions {
  database: Database;
  owner: string;
  leaseMs: number;
  logger: Logger;
  /** The ranges of the jobs the worker holds now (in flight or buffered): droppable. */
  held: () => HeldRanges;
  /** The ranges of results waiting to be written: their leases are extended too, but they are past aborting. */
  writing: () => ReadonlySet<number>;
  /** Writes the results waiting now, for a short while at most (the results of a stopping batch are kept). */
  flush: () => Promise<void>;
  /** Aborts the jobs of the given ranges if still held under the same lease; returns how many it dropped. */
  drop: (ranges: HeldRanges) => number;
  settle: (batchIds: string[]) => Promise<void>;
  onFailure?: () => void;
}

/**
 * One heartbeat: extends every range lease of the worker, drops the jobs of ranges no longer
 * its own (reaped while this worker was cut off) so the engine stops spending slots on work
 * another worker now owns, and ends the ranges of stopping batches (cancelled, or past their
 * window): their streams are aborted, the results already computed are written, and then
 * `stopRequests` unleases them for settling. Run it with `createPeriodic` (core/loop.ts), which
 * never starts a beat beside another.
 */
export function createLeaseHeartbeat({
  database,
  owner,
  leaseMs,
  logger,
  held,
  writing,
  flush,
  drop,
  settle,
  onFailure,
}: LeaseHeartbeatOptions) {
  let failures = 0;
  /** Ranges of stopping batches still to unlease, once their results are written; kept across beats. */
  const stopping = new Set<number>();
  return {
    async beat(): Promise<void> {
      try {
        const before = held();
        const ids = new Set([...before.keys(), ...writing(), ...stopping]);
        const leases = await heartbeatLeases(database.db, { owner, leaseMs, ids: [...ids] });
        failures = 0;
        const ours = new Map(leases.map((l) => [l.id, l.stop]));
        const lost = new Map([...before].filter(([id]) => !ours.has(id)));
        if (lost.size) {
          const dropped = drop(lost);
          if (dropped)
            logger.warn('leases were taken from this worker (it was cut off too long); their streams are aborted', {
              ranges: lost.size,
              requests: dropped,
            });
        }
        for (const id of stopping) if (!ours.has(id)) stopping.delete(id);
        const stops = new Map([...before].filter(([id]) => ours.get(id)));
        for (const id of ids) if (ours.get(id)) stopping.add(id);
        if (stops.size) {
          const aborted = drop(stops);
          logger.info('aborted streams of stopping batches', { ranges: stops.size, requests: aborted });
        }
        if (stopping.size === 0) return;
        // A stopped range's lease is gone: results of it still to write would be refused.
        const waiting = writing();
        if ([...stopping].some((id) => waiting.has(id))) await flush();
        const unwritten = writing();
        const ready = [...stopping].filter((id) => !unwritten.has(id));
        if (ready.length === 0) return;
        const batchIds = await stopRequests(database.db, owner, ready);
        for (const id of ready) stopping.delete(id);
        // Not awaited: settling may finalize a large batch, and the next beats must not wait for that while this worker's other leases run out.
        if (batchIds.length)
          void settle(batchIds).catch((err: unknown) =>
            logger.warn('settling stopped batches failed; the sweeper will', { err, batches: batchIds }),
          );
      } catch (err) {
        onFailure?.();
        if (failures++ % 10 === 0) logger.warn('lease heartbeat failed; trying again', { err });
      }
    },
  };
}
