import { createWaitingQueue } from './waiting-queue.ts';

/** One sequence the scheduler runs: a prompt to prefill, then `tokens` output tokens, one per step. */
export interface Sequence {
  promptTokens: number;
  /** Output tokens; 0 for an embedding (done when its prefill is). */
  tokens: number;
  /** Called for each token, in order, from the step timer. */
  onToken(index: number): void;
  /** Called once after the last token (after the prefill, for a sequence of no tokens). */
  onDone(): void;
}

/** A submitted sequence; abort frees its slot, its KV blocks or its place in the queue at once. */
export interface SequenceHandle {
  abort(): void;
  /** Tokens emitted so far. */
  readonly emitted: number;
}

/** Options for {@link createScheduler}: vLLM's sizes and the simulator's timings. */
export interface SchedulerOptions {
  /** max_num_seqs */
  slots: number;
  /** max_num_batched_tokens: the step's token budget. */
  maxNumBatchedTokens: number;
  kvCacheTokens: number;
  blockSize: number;
  /** Minimum time from submission to the first token. */
  ttftMs: number;
  /** The length of a step. */
  tpotMs: number;
  now?: () => number;
}

/** The V1 scheduler in miniature: one step timer for every sequence. */
export interface Scheduler {
  submit(sequence: Sequence): SequenceHandle;
  readonly running: number;
  readonly waiting: number;
  readonly generatedTokens: number;
  /** Prompt tokens of sequences whose prefill completed (counted once, as vLLM's prompt_tokens). */
  readonly promptTokens: number;
  readonly preemptions: number;
  /** Fraction of KV blocks in use (vllm:kv_cache_usage_perc). */
  readonly kvUsage: number;
  close(): void;
}

interface Entry {
  sequence: Sequence;
  state: 'waiting' | 'running' | 'done';
  /** Tokens whose KV is computed: prompt and output, as vLLM's num_computed_tokens. */
  computed: number;
  emitted: number;
  blocks: number;
  /** Tokens given to it in the step in flight. */
  scheduled: number;
  readyAt: number;
}

/**
 * Creates the scheduler, modelled on vllm/v1/core/sched/scheduler.py `schedule()`: each step
 * first serves the running sequences in admission order (one decode token each, or the next
 * chunk of a prompt), then admits waiting ones FIFO while the token budget lasts and fewer than
 * `slots` run; a prompt's first token comes the step after its last chunk. KV blocks cover each
 * sequence's computed tokens; when a step cannot allocate, the most recently admitted running
 * sequence is preempted (its blocks freed, recomputed later) to the front of the queue, and no
 * new sequence is admitted that step. A step that runs late is not made up for: an overloaded
 * host shows as lower throughput, as a busy GPU would.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { slots, maxNumBatchedTokens, blockSize, ttftMs, tpotMs, now = () => performance.now() } = options;
  const totalBlocks = Math.max(1, Math.floor(options.kvCacheTokens / blockSize));
  let freeBlocks = totalBlocks;
  let running: Entry[] = [];
  let runningCount = 0;
  const waiting = createWaitingQueue<Entry>((e) => e.state === 'waiting');
  let inStep: Entry[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let nextStepAt = 0;
  let generated = 0;
  let prompts = 0;
  let preemptions = 0;
  let closed = false;
  let pickup = false;

  const blocksFor = (tokens: number) => Math.ceil(tokens / blockSize);
  const release = (entry: Entry) => {
    freeBlocks += entry.blocks;
    entry.blocks = 0;
  };
  const preempt = (entry: Entry) => {
    release(entry);
    entry.state = 'waiting';
    entry.computed = 0;
    entry.scheduled = 0;
    runningCount--;
    preemptions++;
    waiting.prepend(entry);
  };
  /** Gives `entry` `tokens` more of KV; false when the cache cannot hold them. */
  const allocate = (entry: Entry, tokens: number) => {
    const wanted = blocksFor(entry.computed + tokens) - entry.blocks;
    if (wanted > freeBlocks) return false;
    freeBlocks -= wanted;
    entry.blocks += wanted;
    return true;
  };

  const schedule = (): Entry[] => {
    running = running.filter((e) => e.state === 'running');
    const scheduled: Entry[] = [];
    let budget = maxNumBatchedTokens;
    let preempted = false;
    for (let i = 0; i < running.length && budget > 0; i++) {
      const entry = running[i] as Entry;
      const behind = entry.sequence.promptTokens + entry.emitted - entry.computed;
      // Caught up: its next token is held back by the minimum time to first token.
      if (behind <= 0) continue;
      const tokens = Math.min(behind, budget);
      let fits = allocate(entry, tokens);
      while (!fits) {
        const victim = running.pop() as Entry;
        preempt(victim);
        preempted = true;
        if (victim === entry) break;
        fits = allocate(entry, tokens);
      }
      if (!fits) break;
      entry.scheduled = tokens;
      budget -= tokens;
      scheduled.push(entry);
    }
    if (preempted) return scheduled;
    while (budget > 0 && runningCount < slots) {
      const entry = waiting.peek();
      if (!entry) break;
      const tokens = Math.min(entry.sequence.promptTokens + entry.emitted, budget);
      if (!allocate(entry, tokens)) break;
      waiting.shift();
      entry.state = 'running';
      runningCount++;
      running.push(entry);
      entry.scheduled = tokens;
      budget -= tokens;
      scheduled.push(entry);
    }
    return scheduled;
  };

  const finish = (entry: Entry) => {
    entry.state = 'done';
    runningCount--;
    release(entry);
    entry.sequence.onDone();
  };

  /** The end of a step: computed tokens advance, and each caught-up sequence samples its next token. */
  const complete = (stepped: Entry[]) => {
    for (const entry of stepped) {
      if (entry.state !== 'running') continue;
      entry.computed += entry.scheduled;
      entry.scheduled = 0;
    }
    const at = now();
    for (const entry of running) {
      if (entry.state !== 'running' || entry.computed < entry.sequence.promptTokens + entry.emitted || at < entry.readyAt) continue;
      if (entry.emitted === 0) prompts += entry.sequence.promptTokens;
      if (entry.sequence.tokens === 0) {
        finish(entry);
        continue;
      }
      entry.sequence.onToken(entry.emitted++);
      generated++;
      if (entry.state === 'running' && entry.emitted >= entry.sequence.tokens) finish(entry);
    }
  };

  const arm = (fromIdle: boolean) => {
    if (closed || timer || (runningCount === 0 && waiting.size === 0)) return;
    const at = now();
    nextStepAt = fromIdle ? at + tpotMs : Math.max(nextStepAt + tpotMs, at);
    timer = setTimeout(step, Math.max(0, nextStepAt - at));
  };

  const step = () => {
    timer = undefined;
    complete(inStep);
    inStep = schedule();
    arm(false);
  };

  return {
    submit(sequence) {
      const entry: Entry = { sequence, state: 'waiting', computed: 0, emitted: 0, blocks: 0, scheduled: 0, readyAt: now() + ttftMs };
      waiting.push(entry);
      // An idle engine picks requests up at once (all those added together, as a request's n
      // children are); a busy one at its next step.
      if (!timer && !closed && !pickup) {
        pickup = true;
        queueMicrotask(() => {
          pickup = false;
          if (timer || closed) return;
          inStep = schedule();
          arm(true);
        });
      }
      return {
        abort() {
          if (entry.state === 'waiting') waiting.forget();
          if (entry.state === 'running') {
            runningCount--;
            release(entry);
          }
          entry.state = 'done';
        },
        get emitted() {
          return entry.emitted;
        },
      };
    },
    get running() {
      return runningCount;
    },
    get waiting() {
      return waiting.size;
    },
    get generatedTokens() {
      return generated;
    },
    get promptTokens() {
      return prompts;
    },
    get preemptions() {
      return preemptions;
    },
    get kvUsage() {
      return (totalBlocks - freeBlocks) / totalBlocks;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
