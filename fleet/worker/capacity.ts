import type { EngineLoad } from '../engine/client.ts';

/** How many requests a worker keeps in flight at its engine. */
export interface Capacity {
  /** The number of requests to keep in flight now. */
  readonly target: number;
  /** True once the engine's size is known (configured, or seen full); until then /metrics is read often. */
  readonly settled: boolean;
  /** Learns from the engine's /metrics while `inFlight` requests of ours are there. */
  observe(load: EngineLoad | null, inFlight: number): void;
  /** Starts over for a newly loaded model, with its known slots if any. */
  reset(slots?: number | null): void;
}

/** Options for {@link createCapacity}. */
export interface CapacityOptions {
  /** The engine's sequence slots when known (max_num_seqs, or the model's max_concurrency). */
  slots?: number | null | undefined;
  /** Where the adaptive search starts. */
  initial: number;
  /** Never more than this in flight. */
  max: number;
}

/**
 * A small queue waiting at the engine, so a slot freed by a finished sequence is refilled at
 * the engine's next step rather than after a round trip to the worker: 3% of the slots, at
 * least 8. On a 1,024-slot engine with ~100-token outputs about 10 sequences end per step,
 * so 31 waiting cover three steps.
 */
export const waitingMargin = (slots: number) => Math.max(8, Math.ceil(slots * 0.03));

/**
 * Follows the engine's capacity. With known slots the target is fixed at slots + margin.
 * Otherwise it is learned from vLLM's gauges: while the engine runs everything we send
 * and nothing waits (and we are actually at the target), the target doubles; as soon as
 * requests wait, the engine is full and its running count is its capacity; after that the
 * target only creeps up.
 */
export function createCapacity({ slots: configured, initial, max }: CapacityOptions): Capacity {
  let slots = configured;
  const start = () => (slots ? Math.min(max, slots + waitingMargin(slots)) : Math.min(initial, max));
  let target = start();
  let saturatedOnce = false;
  return {
    reset(modelSlots) {
      slots = configured ?? modelSlots;
      target = start();
      saturatedOnce = false;
    },
    get target() {
      return target;
    },
    get settled() {
      return Boolean(slots) || saturatedOnce;
    },
    observe(load, inFlight) {
      if (slots || !load) return;
      if (load.waiting > 0 && load.running > 0) {
        saturatedOnce = true;
        target = Math.min(max, load.running + waitingMargin(load.running));
      } else if (load.waiting === 0 && inFlight >= target * 0.9 && load.running >= inFlight * 0.9) {
        // Doubling finds the engine's size in a few seconds; once it has been full, growth is
        // gentle, so a momentary dip (sequences ending together) does not flood its queue.
        target = Math.min(max, saturatedOnce ? target + waitingMargin(target) : target * 2);
      }
    },
  };
}
