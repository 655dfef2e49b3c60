import { createRandom } from './content.ts';
import type { SimOptions } from './options.ts';
import type { Scheduler } from './scheduler.ts';
import type { ReplySurface } from './surface.ts';

/** A fault the dice chose for a request. */
export type Fault = 'none' | 'error' | 'rate_limit' | 'hang' | 'disconnect' | 'stall' | 'garbage' | 'abort';

/** What the request handlers share: the options, the scheduler, the counters and the open requests. */
export interface SimContext {
  options: SimOptions;
  scheduler: Scheduler;
  /** How the profile's engine writes replies. */
  surface: ReplySurface;
  stats: { requests: number; aborted: number; finished: Record<string, number> };
  /** The engine abort of every request in flight, run on shutdown (vLLM's shutdown_timeout=0). */
  live: Set<() => void>;
  /** The first served name: what responses and metrics call the model. */
  modelName: string;
  systemFingerprint: string;
  rollFault(streaming: boolean): Fault;
  /** A uniform number from the fault dice. */
  dice(): number;
  /** Counts a finished engine request under its finish reason, as vllm:request_success. */
  finish(reason: string): void;
  closed: boolean;
}

/** The fault dice: one draw per request, in a fixed order so a seed replays the same faults. */
export function createFaultDice(options: SimOptions) {
  const dice = createRandom(options.seed);
  const rollFault = (streaming: boolean): Fault => {
    let roll = dice();
    for (const [fault, rate] of [
      ['error', options.errorRate],
      ['rate_limit', options.rateLimitRate],
      ['hang', options.hangRate],
      ['disconnect', streaming ? options.disconnectRate : 0],
      ['stall', streaming ? options.stallRate : 0],
      // Later ones last, so that adding them changed no earlier fault's dice for a given seed.
      ['garbage', options.garbageRate],
      ['abort', options.abortRate],
    ] as const) {
      if (roll < rate) return fault;
      roll -= rate;
    }
    return 'none';
  };
  return { dice, rollFault };
}
