import type { EngineClient } from '../engine/client.ts';
import type { Capacity } from './capacity.ts';

/** Options for {@link createLoadFollower}. */
export interface LoadFollowerOptions {
  client: EngineClient;
  capacity: Capacity;
  /** Requests of this worker at the engine now. */
  inFlight: () => number;
  /** Requests this worker has finished so far. */
  finished: () => number;
  /** Called after each reading (the target may have moved). */
  onReading: () => void;
  pollMs: number;
}

/**
 * Reads the engine's /metrics on a timer and feeds the capacity follower, and keeps the
 * worker's completion rate (requests per second, smoothed), from which it sizes its
 * prefetch. While the engine's size is still being learned it reads five times as often,
 * so the doubling search reaches a 1,024-slot engine in well under a second.
 */
export function createLoadFollower({ client, capacity, inFlight, finished, onReading, pollMs }: LoadFollowerOptions) {
  let rate = 0;
  let lastAt = Date.now();
  let lastCount = 0;
  let stopped = false;

  const read = async () => {
    capacity.observe(await client.load(), inFlight());
    const now = Date.now();
    const total = finished();
    rate = rate * 0.5 + (((total - lastCount) * 1000) / Math.max(1, now - lastAt)) * 0.5;
    lastAt = now;
    lastCount = total;
    onReading();
  };

  const loop = () => {
    if (stopped) return;
    void read()
      .catch(() => {})
      .finally(() => setTimeout(loop, capacity.settled ? pollMs : pollMs / 5));
  };

  return {
    start: loop,
    stop() {
      stopped = true;
    },
    /** Finished requests per second, smoothed. */
    get completionRate() {
      return rate;
    },
  };
}
