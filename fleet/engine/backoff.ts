/** Options for {@link backoffMs}. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a random wait in [0, min(max, base * 2^attempt)),
 * never shorter than what the engine asked for with Retry-After. Full jitter spreads a
 * thousand streams that failed in the same instant instead of retrying them in lockstep.
 */
export function backoffMs(
  attempt: number,
  { baseMs, maxMs }: BackoffOptions,
  retryAfterMs: number | null = null,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.max(retryAfterMs ?? 0, Math.floor(random() * ceiling));
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
