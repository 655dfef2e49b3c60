/** One sequence the scheduler runs: it emits `tokens` tokens, one per decode step, after its time to first token. */
export interface Sequence {
  tokens: number;
  /** Called for each token, in order, from the step timer. */
  onToken(index: number): void;
  /** Called once after the last token (or after the prefill, for a sequence of no tokens). */
  onDone(): void;
}

/** A submitted sequence; abort frees its slot (or its place in the queue) at once. */
export interface SequenceHandle {
  abort(): void;
}

/** Options for {@link createScheduler}. */
export interface SchedulerOptions {
  slots: number;
  ttftMs: number;
  tpotMs: number;
  now?: () => number;
}

/** Continuous batching: a fixed number of running sequences, a FIFO of waiting ones, and one step timer for all. */
export interface Scheduler {
  submit(sequence: Sequence): SequenceHandle;
  readonly running: number;
  readonly waiting: number;
  /** Tokens emitted since start. */
  readonly generatedTokens: number;
  close(): void;
}

interface Entry {
  sequence: Sequence;
  emitted: number;
  readyAt: number;
  state: 'waiting' | 'running' | 'done';
}

/**
 * Creates the scheduler. Every running sequence advances by one token per step and a
 * single timer drives all of them, so a thousand open streams cost one timer, not a
 * thousand. A step that runs late is not made up for: an overloaded host shows as lower
 * throughput, as a busy GPU would.
 */
export function createScheduler({ slots, ttftMs, tpotMs, now = () => performance.now() }: SchedulerOptions): Scheduler {
  const running = new Set<Entry>();
  let waiting: Entry[] = [];
  let waitingHead = 0;
  let waitingCount = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let nextStepAt = 0;
  let generated = 0;
  let closed = false;

  const admit = () => {
    const at = now();
    while (running.size < slots && waitingHead < waiting.length) {
      const entry = waiting[waitingHead++] as Entry;
      if (entry.state !== 'waiting') continue;
      waitingCount--;
      entry.state = 'running';
      entry.readyAt = at + ttftMs;
      running.add(entry);
    }
    if (waitingHead > 1024 && waitingHead * 2 > waiting.length) {
      waiting = waiting.slice(waitingHead);
      waitingHead = 0;
    }
  };

  const step = () => {
    timer = undefined;
    const at = now();
    for (const entry of running) {
      if (at < entry.readyAt) continue;
      if (entry.emitted < entry.sequence.tokens) {
        entry.sequence.onToken(entry.emitted++);
        generated++;
      }
      if (entry.emitted >= entry.sequence.tokens && entry.state === 'running') {
        entry.state = 'done';
        running.delete(entry);
        entry.sequence.onDone();
      }
    }
    admit();
    schedule();
  };

  const schedule = () => {
    if (closed || timer || (running.size === 0 && waitingCount === 0)) return;
    const at = now();
    nextStepAt = Math.max(nextStepAt + tpotMs, at);
    timer = setTimeout(step, Math.max(0, nextStepAt - at));
  };

  return {
    submit(sequence) {
      const entry: Entry = { sequence, emitted: 0, readyAt: 0, state: 'waiting' };
      waiting.push(entry);
      waitingCount++;
      admit();
      schedule();
      return {
        abort() {
          if (entry.state === 'waiting') waitingCount--;
          if (entry.state === 'running') running.delete(entry);
          entry.state = 'done';
        },
      };
    },
    get running() {
      return running.size;
    },
    get waiting() {
      return waitingCount;
    },
    get generatedTokens() {
      return generated;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
