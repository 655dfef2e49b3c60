import type { Capacity } from './capacity.ts';
import type { LoadReading, ReadLoad } from './engine-metrics.ts';

/** How often an engine without load gauges has its /metrics looked at again (it may be restarted with them). */
const BLIND_RECHECK_MS = 30_000;

/** Options for {@link createLoadFollower}. */
export interface LoadFollowerOptions {
  readLoad: ReadLoad;
  /** The engine's load as the worker sees it (its requests answered and unanswered), for an engine without gauges. */
  observedLoad?: () => LoadReading;
  capacity: Capacity;
  /** Requests of this worker at the engine now. */
  inFlight: () => number;
  /** Requests this worker has finished so far. */
  finished: () => number;
  /** Called after each tick (the target may have moved). */
  onReading: () => void;
  pollMs: number;
}

/**
 * Reads the engine's /metrics on a timer and feeds the capacity follower, and keeps the
 * worker's completion rate (requests per second, smoothed), from which it sizes its
 * prefetch. While the engine's size is still being learned it reads five times as often,
 * so the doubling search reaches a 1,024-slot engine in well under a second. An engine that
 * shows no gauges is not asked for them at every tick (every 30 s is enough to notice a
 * restart with them): the worker's own view of its requests stands in for them.
 */
export function createLoadFollower({ readLoad, observedLoad, capacity, inFlight, finished, onReading, pollMs }: LoadFollowerOptions) {
  let rate = 0;
  let lastAt = Date.now();
  let lastCount = 0;
  let lastReadAt = 0;
  let stopped = false;
  let kvCacheUsage: number | null = null;

  const tick = async () => {
    const now = Date.now();
    if (!capacity.blind || now - lastReadAt >= BLIND_RECHECK_MS) {
      lastReadAt = now;
      const reading = await readLoad();
      // No answer says nothing about the cache: the last reading stands until one comes.
      if (reading.kind !== 'unreachable') kvCacheUsage = reading.kind === 'load' && !reading.observed ? reading.kvCacheUsage : null;
      capacity.observe(reading, inFlight());
    }
    if (capacity.blind && observedLoad) capacity.observe(observedLoad(), inFlight());
    const total = finished();
    rate = rate * 0.5 + (((total - lastCount) * 1000) / Math.max(1, now - lastAt)) * 0.5;
    lastAt = now;
    lastCount = total;
    onReading();
  };

  const loop = () => {
    if (stopped) return;
    void tick()
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
    /** The engine's KV-cache use (1 = full) at its last reading; null when its /metrics do not show it. */
    get kvCacheUsage() {
      return kvCacheUsage;
    },
  };
}
