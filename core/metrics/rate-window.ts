/** Options for {@link createRateWindow}. */
export interface RateWindowOptions {
  /** How far back the rate looks. */
  windowMs?: number;
  /** The resolution of the window; amounts are summed per bucket. */
  bucketMs?: number;
}

/** A per-second rate over a recent window (tokens/s, requests/s), fed with increments as they happen. */
export interface RateWindow {
  add(amount: number, now?: number): void;
  /** Amount per second over the window, or over the time since the first add while the window is not yet full. */
  rate(now?: number): number;
}

/** Creates a sliding-window rate in fixed buckets: memory is bounded whatever the event rate. */
export function createRateWindow({ windowMs = 10_000, bucketMs = 1_000 }: RateWindowOptions = {}): RateWindow {
  const size = Math.max(1, Math.ceil(windowMs / bucketMs));
  const sums = new Array<number>(size).fill(0);
  const starts = new Array<number>(size).fill(-Infinity);
  let firstAt: number | null = null;
  return {
    add(amount, now = Date.now()) {
      firstAt ??= now;
      const start = Math.floor(now / bucketMs) * bucketMs;
      const i = Math.floor(now / bucketMs) % size;
      if (starts[i] !== start) {
        starts[i] = start;
        sums[i] = 0;
      }
      sums[i]! += amount;
    },
    rate(now = Date.now()) {
      if (firstAt === null) return 0;
      // The window is the current (partial) bucket and the size - 1 before it.
      const windowStart = Math.floor(now / bucketMs) * bucketMs - (size - 1) * bucketMs;
      let total = 0;
      for (let i = 0; i < size; i++) if (starts[i]! >= windowStart && starts[i]! <= now) total += sums[i]!;
      // Divide by the time actually observed, and by at least one bucket so that one early burst is not a spike.
      const span = Math.max(bucketMs, now - Math.max(windowStart, firstAt));
      return total / (span / 1000);
    },
  };
}
