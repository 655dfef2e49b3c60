import type { Logger } from '../../core/logger.ts';
import { createPeriodic } from '../../core/loop.ts';
import type { Database } from '../../schema/index.ts';
import { FLEET_SAMPLE_SECONDS, pruneFleetSamples, sampleFleet } from '../../schema/sql/sample-fleet.ts';

/** How long samples are kept: the charts show an hour, `fleetHistory` a day at most. */
export const FLEET_SAMPLE_KEEP_SECONDS = 24 * 3600;

/** Options for {@link createFleetSampler}. */
export interface FleetSamplerOptions {
  database: Database;
  logger: Logger;
  /** The slot of a sample, in seconds (default {@link FLEET_SAMPLE_SECONDS}). */
  slotSeconds?: number;
  keepSeconds?: number;
}

/** The gateway's sampler of the fleet: the history behind the dashboard's throughput and queue charts. */
export interface FleetSampler {
  /** Samples the current slot (unless another gateway did) and deletes samples past their age. */
  sample(): Promise<void>;
  /** Samples now and then twice per slot, until {@link stop}. */
  start(): void;
  stop(): void;
}

/**
 * Creates a {@link FleetSampler}. It runs twice per slot, so that no slot is missed when the
 * timer drifts across a slot's edge; the second run of a slot, here or on another replica,
 * finds it written and costs one index probe: sampleFleet checks the slot before anything
 * else and, the slot taken, reads no range at all (it returns `'skipped'`).
 */
export function createFleetSampler({
  database,
  logger,
  slotSeconds = FLEET_SAMPLE_SECONDS,
  keepSeconds = FLEET_SAMPLE_KEEP_SECONDS,
}: FleetSamplerOptions): FleetSampler {
  async function sample() {
    await sampleFleet(database.db, slotSeconds);
    await pruneFleetSamples(database.db, keepSeconds);
  }
  const periodic = createPeriodic(sample, (slotSeconds * 1000) / 2, (err) => logger.warn('fleet sample failed', { err }));
  return {
    sample,
    start() {
      void periodic.run();
      periodic.start();
    },
    stop: () => periodic.stop(),
  };
}
