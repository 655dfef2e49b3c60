import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { BusEvent, EventBus } from '../../core/events/index.ts';

/** A Redis channel prefix of this test file's own, so parallel runs and files never cross. */
export function uniquePrefix(): string {
  return `vbs-test:${inject('runId')}:${randomBytes(4).toString('hex')}:`;
}

/** Collects what a topic receives, and waits for what a test expects. */
export interface Collected {
  events: BusEvent[];
  /** Resolves once `count` events have arrived; rejects after `timeoutMs` with what did arrive. */
  waitFor(count: number, timeoutMs?: number): Promise<BusEvent[]>;
  stop(): Promise<void>;
}

/** Subscribes to a topic and collects its events. */
export async function collect(bus: EventBus, topic: string): Promise<Collected> {
  const events: BusEvent[] = [];
  const waiters = new Set<() => void>();
  const stop = await bus.subscribe(topic, (event) => {
    events.push(event);
    for (const w of waiters) w();
  });
  return {
    events,
    stop,
    waitFor(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (events.length < count) return;
          done();
          resolve(events.slice());
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`expected ${count} events on ${topic}, got ${events.length}: ${JSON.stringify(events)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** A batch.progress event with the given counters. */
export function progressEvent(
  batchId: string,
  counters: Partial<{
    status: string;
    total: number;
    completed: number;
    failed: number;
    promptTokens: number;
    completionTokens: number;
    owner: string;
  }> = {},
): BusEvent {
  return {
    type: 'batch.progress',
    batchId,
    owner: counters.owner ?? 'local',
    status: (counters.status ?? 'in_progress') as 'in_progress',
    total: counters.total ?? 10,
    completed: counters.completed ?? 0,
    failed: counters.failed ?? 0,
    promptTokens: counters.promptTokens ?? 0,
    completionTokens: counters.completionTokens ?? 0,
    at: Date.now(),
  };
}
