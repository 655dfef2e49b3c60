import type { LoadReading } from './engine-metrics.ts';

/** How many requests a worker keeps in flight at its engine. */
export interface Capacity {
  /** The number of requests to keep in flight now. */
  readonly target: number;
  /** True once the engine's size is known (configured, seen full, or not to be learned); until then /metrics is read often. */
  readonly settled: boolean;
  /** True when the engine shows no load gauges: its /metrics need only be looked at now and then. */
  readonly blind: boolean;
  /** Learns from a reading of the engine's /metrics while `inFlight` requests of ours are there. */
  observe(reading: LoadReading, inFlight: number): void;
  /** Starts over for a newly loaded model, with its known slots (the registry's maxConcurrency) if any. */
  reset(slots?: number | null): void;
}

/** What the capacity follower concluded, said once per conclusion (the worker logs it). */
export interface CapacityNote {
  message: string;
  fields: Record<string, unknown>;
}

/** Options for {@link createCapacity}. */
export interface CapacityOptions {
  /** The engine's sequence slots when configured for the worker (ENGINE_MAX_NUM_SEQS); wins over the registry. */
  slots?: number | null | undefined;
  /** Where the adaptive search starts. */
  initial: number;
  /** Never more than this in flight. */
  max: number;
  /** Told what the follower concluded: the capacity it learned, or that it cannot learn one. */
  onNote?: (note: CapacityNote) => void;
  now?: () => number;
}

/**
 * A small queue waiting at the engine, so a slot freed by a finished sequence is refilled at
 * the engine's next step rather than after a round trip to the worker: 3% of the slots, at
 * least 8. On a 1,024-slot engine with ~100-token outputs about 10 sequences end per step,
 * so 31 waiting cover three steps.
 */
export const waitingMargin = (slots: number) => Math.max(8, Math.ceil(slots * 0.03));

/**
 * Requests waiting while the running count holds still for this many readings, spanning at
 * least {@link PLATEAU_MS}, mean the engine is full. vLLM V1's scheduler admits waiting
 * requests only while the step's token budget lasts (vllm/v1/core/sched/scheduler.py,
 * `schedule`: `while self.waiting and token_budget > 0`), so during a ramp-up requests wait
 * while `running` is still far below max_num_seqs — but `running` grows at every step then
 * (about 8,192 / prompt tokens a step on an H100's defaults). A second of steps without growth
 * is no ramp-up: even a 70B model's prefill steps take well under 200 ms.
 */
const PLATEAU_READINGS = 3;
const PLATEAU_MS = 1000;
/** Cache usage from which the engine is full for memory, whatever max_num_seqs says: it is preempting. */
const KV_FULL = 0.95;
/** Readings without vLLM's gauges before the follower stops looking for them. */
const BLIND_READINGS = 3;

/**
 * Follows the engine's capacity. With known slots the target is fixed at slots + margin.
 * Otherwise it is learned from vLLM's gauges: while the engine runs everything we send and
 * nothing waits (and we are at the target), the target doubles; requests waiting while the
 * running count still grows are a ramp-up (the token budget), and the target holds; requests
 * waiting while it holds still for a second, or a full KV cache, mean the engine is full, and
 * its running count is its capacity. After that the target follows the running count up.
 * An engine without gauges (`--disable-log-stats`) says so once; the worker's own view of its
 * requests (answered ones running, ones unanswered for a second waiting) stands in for them.
 */
export function createCapacity({ slots: configured, initial, max, onNote, now = () => Date.now() }: CapacityOptions): Capacity {
  let slots = configured;
  const start = () => (slots ? Math.min(max, slots + waitingMargin(slots)) : Math.min(initial, max));
  let target = start();
  let learned: number | null = null;
  let blind = false;
  let missing = 0;
  /** Since when, over consecutive readings with requests waiting, the running count has not grown. */
  let plateau: { running: number; at: number; readings: number } | null = null;

  const settle = (capacity: number, why: string, reading: { running: number; waiting: number; kvCacheUsage: number | null }) => {
    const first = learned === null;
    learned = capacity;
    target = Math.min(max, capacity + waitingMargin(capacity));
    if (first)
      onNote?.({ message: `learned the engine's capacity: ${capacity} running (${why})`, fields: { capacity, target, ...reading } });
  };

  return {
    reset(modelSlots) {
      slots = configured ?? modelSlots;
      target = start();
      learned = null;
      blind = false;
      missing = 0;
      plateau = null;
    },
    get target() {
      return target;
    },
    get settled() {
      return Boolean(slots) || learned !== null || blind;
    },
    get blind() {
      return blind;
    },
    observe(reading, inFlight) {
      if (reading.kind === 'unreachable') return;
      if (reading.kind === 'no_gauges') {
        if (++missing === BLIND_READINGS && !blind) {
          blind = true;
          if (!slots) {
            onNote?.({
              message: `the engine's /metrics shows no vLLM load gauges (answered ${reading.status}; vLLM started with --disable-log-stats?), so its capacity is learned from how long requests wait for their first token, starting from ${target} in flight. Setting the model's maxConcurrency in the registry (its --max-num-seqs) or ENGINE_MAX_NUM_SEQS makes it exact`,
              fields: { target, status: reading.status },
            });
          }
        }
        return;
      }
      if (reading.observed) {
        // The worker's own view stands in for gauges only where there are none.
        if (!blind) return;
      } else {
        missing = 0;
        blind = false;
      }
      if (slots) return;
      const { running, waiting, kvCacheUsage } = reading;
      if (waiting > 0 && running > 0) {
        const at = now();
        if (learned !== null && running > learned) return settle(running, 'more running than before', reading);
        if (kvCacheUsage !== null && kvCacheUsage >= KV_FULL)
          return settle(running, `KV cache ${Math.round(kvCacheUsage * 100)}% full with requests waiting`, reading);
        // A running count that grows is a ramp-up: the plateau starts again from it.
        if (!plateau || running > plateau.running) plateau = { running, at, readings: 0 };
        plateau.readings++;
        if (learned === null && plateau.readings >= PLATEAU_READINGS && at - plateau.at >= PLATEAU_MS) {
          settle(plateau.running, `requests waited while the running count held still for ${Math.round(at - plateau.at)} ms`, reading);
        }
        return;
      }
      plateau = null;
      if (waiting === 0 && inFlight >= target * 0.9 && running >= inFlight * 0.9) {
        // Doubling finds the engine's size in a few seconds; once it has been full, growth is
        // gentle, so a momentary dip (sequences ending together) does not flood its queue.
        target = Math.min(max, learned !== null ? target + waitingMargin(target) : target * 2);
      }
    },
  };
}
