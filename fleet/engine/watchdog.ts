/** A deadline the watchdog enforces; move `deadline` forward, or set `active` to push it `extendMs` past the next tick. */
export interface Watched {
  deadline: number;
  /** Set on activity (cheap: no clock read); the next tick moves the deadline to now + `extendMs`. */
  active?: boolean;
  extendMs?: number;
  onExpire(): void;
}

/** One timer for every deadline of a process. */
export interface Watchdog {
  watch(entry: Watched): () => void;
  /** Says the engine just delivered something outside a watched entry (a whole answer); free: a flag the next tick reads. */
  touch(): void;
  /**
   * When the engine last delivered anything (a stream's bytes, a whole answer), to the tick;
   * -Infinity before it ever did. Tells a busy engine (others are served) from a stuck one.
   */
  lastActivityAt(): number;
  close(): void;
}

/**
 * Checks every watched deadline each `tickMs`. A thousand streams each pushing a timer
 * forward on every token would cost a thousand timer resets per decode step; a number
 * assignment and one sweep per tick cost nothing, and timeouts measured in seconds do
 * not need millisecond precision. An active entry's deadline is pushed forward by the tick
 * itself, so a stream only flips a flag per chunk.
 */
export function createWatchdog(tickMs = 100, now = () => performance.now()): Watchdog {
  const entries = new Set<Watched>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let touched = false;
  let activeAt = Number.NEGATIVE_INFINITY;
  const sweep = () => {
    const at = now();
    if (touched) {
      touched = false;
      activeAt = at;
    }
    for (const entry of entries) {
      if (entry.active) {
        activeAt = at;
        entry.active = false;
        entry.deadline = at + (entry.extendMs ?? 0);
      } else if (entry.deadline <= at) {
        entries.delete(entry);
        entry.onExpire();
      }
    }
    if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  return {
    watch(entry) {
      entries.add(entry);
      timer ??= setInterval(sweep, tickMs);
      return () => entries.delete(entry);
    },
    touch() {
      touched = true;
      timer ??= setInterval(sweep, tickMs);
    },
    lastActivityAt: () => activeAt,
    close() {
      entries.clear();
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
