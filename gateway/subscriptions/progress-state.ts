import { createRateWindow, type RateWindow } from '../../core/metrics/index.ts';
import { BATCH_STATUS_RANK, isTerminalBatchStatus, type BatchStatus } from '../../schema/index.ts';
import type { BatchCountersRow } from '../../schema/sql/read-batch-counters.ts';

/** A batch's status and counters as its progress follows them, from an event or from its row. */
export type ProgressCounters = Omit<BatchCountersRow, 'id' | 'owner'>;

/** What `batchProgress` emits: the counters, the rates over a recent window, and the time left. */
export interface BatchProgress extends ProgressCounters {
  batchId: string;
  remaining: number;
  tokensPerSecond: number;
  requestsPerSecond: number;
  /** Null while the rate is unknown (nothing finished yet in the window) or the batch is not running (or paused). */
  estimatedSecondsLeft: number | null;
  /** When its owner paused it; null while it is not paused (or once it has ended). */
  pausedAt: Date | null;
  /** Whether it is paused now: its status stays `in_progress`, but nothing more of it is leased. */
  paused: boolean;
  /** True on the last event: the batch has ended and the subscription completes. */
  final: boolean;
  /** When the newest change merged into this state was published (or read). */
  updatedAt: Date;
}

/** How far back tokens/s and requests/s look. */
export const RATE_WINDOW_MS = 30_000;

/**
 * The progress of one batch as one gateway process knows it: counters merged from events
 * and reads (each only ever grows), and the rates they imply.
 */
export class ProgressState {
  private counters: ProgressCounters;
  private updatedAt: number;
  private readonly tokens: RateWindow = createRateWindow({ windowMs: RATE_WINDOW_MS });
  private readonly requests: RateWindow = createRateWindow({ windowMs: RATE_WINDOW_MS });
  private pausedAtMs: number | null;
  /** When what is known of the pause was true (the event's time, or when the row was read): older news is ignored. */
  private pauseKnownAt: number;

  constructor(
    readonly batchId: string,
    initial: ProgressCounters,
    now = Date.now(),
    pausedAtMs: number | null = null,
    pauseKnownAt = now,
  ) {
    this.counters = { ...initial };
    this.updatedAt = now;
    this.pausedAtMs = pausedAtMs;
    this.pauseKnownAt = pauseKnownAt;
    // The rates count from the moment the counters were first known.
    this.tokens.add(0, now);
    this.requests.add(0, now);
  }

  get status(): BatchStatus {
    return this.counters.status;
  }

  get ended(): boolean {
    return isTerminalBatchStatus(this.counters.status);
  }

  /** Merges newer counters in; returns whether anything a subscriber sees changed. */
  merge(next: Partial<ProgressCounters>, at = Date.now(), now = Date.now()): boolean {
    const c = this.counters;
    const max = (a: number, b: number | undefined) => (b !== undefined && b > a ? b : a);
    // Events from several publishers may arrive out of order: a status never goes back.
    const merged: ProgressCounters = {
      status:
        next.status !== undefined && !this.ended && BATCH_STATUS_RANK[next.status] >= BATCH_STATUS_RANK[c.status] ? next.status : c.status,
      total: max(c.total, next.total),
      completed: max(c.completed, next.completed),
      failed: max(c.failed, next.failed),
      promptTokens: max(c.promptTokens, next.promptTokens),
      completionTokens: max(c.completionTokens, next.completionTokens),
    };
    const changed = (Object.keys(merged) as (keyof ProgressCounters)[]).some((k) => merged[k] !== c[k]);
    if (!changed) return false;
    const tokens = merged.promptTokens + merged.completionTokens - (c.promptTokens + c.completionTokens);
    const requests = merged.completed + merged.failed - (c.completed + c.failed);
    if (tokens > 0) this.tokens.add(tokens, now);
    if (requests > 0) this.requests.add(requests, now);
    this.counters = merged;
    this.updatedAt = Math.max(this.updatedAt, at);
    return true;
  }

  /**
   * Takes in whether the batch is paused, as known at `at` (a pause or resume event's time, or
   * when a read of its row began); returns whether that changed. Unlike the counters, a pause
   * goes back and forth, so the newest news wins rather than the largest value.
   */
  setPaused(pausedAtMs: number | null, at: number): boolean {
    if (at < this.pauseKnownAt) return false;
    this.pauseKnownAt = at;
    if (pausedAtMs === this.pausedAtMs) return false;
    this.pausedAtMs = pausedAtMs;
    this.updatedAt = Math.max(this.updatedAt, at);
    return true;
  }

  /** The progress a subscriber receives now. */
  snapshot(now = Date.now()): BatchProgress {
    const c = this.counters;
    const remaining = Math.max(0, c.total - c.completed - c.failed);
    const requestsPerSecond = round(this.requests.rate(now));
    const running = c.status === 'in_progress' || c.status === 'finalizing';
    const paused = this.pausedAtMs !== null && !this.ended;
    let estimatedSecondsLeft: number | null = null;
    if (this.ended || (running && remaining === 0)) estimatedSecondsLeft = 0;
    else if (running && !paused && requestsPerSecond > 0) estimatedSecondsLeft = round(remaining / requestsPerSecond);
    return {
      batchId: this.batchId,
      ...c,
      remaining,
      tokensPerSecond: round(this.tokens.rate(now)),
      requestsPerSecond,
      estimatedSecondsLeft,
      pausedAt: paused ? new Date(this.pausedAtMs as number) : null,
      paused,
      final: this.ended,
      updatedAt: new Date(this.updatedAt),
    };
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
