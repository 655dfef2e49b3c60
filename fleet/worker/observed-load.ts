import type { LoadReading } from './engine-metrics.ts';

/** A request at the engine as the worker sees it. */
export interface RequestAtEngine {
  /** performance.now() when its current call was sent. */
  startedAt: number;
  /** True once the engine sent its first event. */
  answering: boolean;
  /** False while the request waits between calls (backoff, the gate): then it is not at the engine. */
  atEngine: boolean;
}

/** How long a request without an answer counts as queued in the engine: a prompt's prefill takes well under a second. */
const QUEUED_MS = 1000;

/**
 * The engine's load as the worker sees its own requests, for an engine without load gauges:
 * one the engine has started answering is running; one unanswered for a second is waiting
 * in the engine's queue; the rest are too young to tell.
 */
export function observedLoad(requests: Iterable<RequestAtEngine>, now = performance.now()): LoadReading {
  const queuedBefore = now - QUEUED_MS;
  let running = 0;
  let waiting = 0;
  for (const request of requests) {
    if (!request.atEngine) continue;
    if (request.answering) running++;
    else if (request.startedAt < queuedBefore) waiting++;
  }
  return { kind: 'load', running, waiting, kvCacheUsage: null, observed: true };
}
