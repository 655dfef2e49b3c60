/**
 * The two timing pieces every lease loop of the project is built from (the worker's lease loop
 * and heartbeat, the handler runner, the batch validator, the fleet's sweeper): a sleep that a
 * nudge ends early, and a periodic task that never overlaps itself.
 */

/** A sleep that {@link Wakeable.wake} ends early. */
export interface Wakeable {
  /** Resolves after `ms`, or at the next wake; at once when a wake came since the last sleep ended, or after `close`. */
  sleep(ms: number): Promise<void>;
  /** Ends the sleep under way; with none, the next one returns at once (a NOTIFY during a lease round is not lost). */
  wake(): void;
  /** Ends the sleep under way and every later one at once: the loop is stopping. */
  close(): void;
}

/** Creates a {@link Wakeable}. */
export function createWakeable(): Wakeable {
  let end: (() => void) | null = null;
  let woken = false;
  let closed = false;
  return {
    sleep(ms) {
      if (closed || woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          if (end === done) end = null;
          resolve();
        };
        const timer = setTimeout(done, ms);
        end = done;
      });
    },
    wake() {
      if (end) end();
      else woken = true;
    },
    close() {
      closed = true;
      end?.();
    },
  };
}

/** A task run every so often and on demand, one run at a time. */
export interface Periodic {
  /** Runs the task every `ms` from now on. */
  start(): void;
  /** Runs the task now, unless it is running: then resolves when that run ends. */
  run(): Promise<void>;
  /** No more runs start (one under way ends by itself). */
  stop(): void;
}

/**
 * Creates a {@link Periodic}. A tick that finds the previous run still going is skipped
 * instead of starting a second one beside it: a slow database must not pile up heartbeats or
 * sweeps that then all land at once. The task's failures go to `onError` (the task is run
 * again at the next tick); nothing is thrown out of a timer.
 */
export function createPeriodic(task: () => Promise<void>, ms: number, onError: (err: unknown) => void = () => {}): Periodic {
  let running: Promise<void> | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  const run = () => {
    running ??= task()
      .catch(onError)
      .finally(() => {
        running = null;
      });
    return running;
  };
  return {
    start() {
      timer ??= setInterval(() => void run(), ms);
    },
    run,
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
