import { describe, expect, it } from 'vitest';
import { ProgressState } from '../../gateway/subscriptions/progress-state.ts';
import { createSink } from '../../gateway/subscriptions/sink.ts';

const start = { status: 'in_progress' as const, total: 100, completed: 0, failed: 0, promptTokens: 0, completionTokens: 0 };

describe('the progress state of a batch', () => {
  it('keeps the highest counters and the latest status when events arrive out of order', () => {
    const state = new ProgressState('b', start, 0);
    expect(state.merge({ completed: 50, failed: 2 }, 0, 1000)).toBe(true);
    expect(state.merge({ completed: 40, failed: 1, status: 'validating' }, 0, 1000)).toBe(false);
    expect(state.snapshot(1000)).toMatchObject({ status: 'in_progress', completed: 50, failed: 2, remaining: 48 });
  });

  it('never leaves a final status', () => {
    const state = new ProgressState('b', start, 0);
    state.merge({ status: 'cancelled' });
    state.merge({ status: 'in_progress', completed: 3 });
    expect(state.snapshot()).toMatchObject({ status: 'cancelled', final: true, completed: 3, estimatedSecondsLeft: 0 });
  });

  it('estimates the time left from requests finished per second in the window', () => {
    const t0 = 1_000_000;
    const state = new ProgressState('b', start, t0);
    expect(state.snapshot(t0).estimatedSecondsLeft).toBeNull();
    state.merge({ completed: 20, completionTokens: 2000 }, t0 + 10_000, t0 + 10_000);
    const progress = state.snapshot(t0 + 10_000);
    expect(progress.requestsPerSecond).toBeCloseTo(2, 1);
    expect(progress.tokensPerSecond).toBeCloseTo(200, 0);
    expect(progress.estimatedSecondsLeft).toBeCloseTo(40, 0);
  });

  it('has no estimate while the batch is not running', () => {
    const state = new ProgressState('b', { ...start, status: 'validating' }, 0);
    expect(state.snapshot().estimatedSecondsLeft).toBeNull();
  });
});

describe('the subscriber sink', () => {
  it('keeps only the newest undelivered value in latest mode', async () => {
    const sink = createSink<number>({ mode: 'latest' });
    sink.push(1);
    sink.push(2);
    sink.push(3);
    sink.end();
    const got: number[] = [];
    for await (const v of sink) got.push(v);
    expect(got).toEqual([3]);
  });

  it('keeps every value in order in queue mode, dropping the oldest past its limit', async () => {
    const sink = createSink<number>({ mode: 'queue', limit: 3 });
    for (let i = 1; i <= 5; i++) sink.push(i);
    sink.end();
    const got: number[] = [];
    for await (const v of sink) got.push(v);
    expect(got).toEqual([3, 4, 5]);
  });

  it('ends a consumer waiting on a quiet stream at once when it returns, and closes once', async () => {
    let closes = 0;
    const sink = createSink<number>({ mode: 'queue', onClose: () => closes++ });
    const pending = sink.next();
    await sink.return!();
    expect(await pending).toEqual({ done: true, value: undefined });
    await sink.return!();
    expect(closes).toBe(1);
  });
});
