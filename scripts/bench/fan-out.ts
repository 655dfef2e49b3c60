// Fan-out: lag from a progress event's publication on Redis to its arrival at the last of 1,000
// SSE subscribers of `batchProgress`, through a Bun gateway (the subscribers live in this
// process, not the gateway's). Reference: the same lag to a single subscriber, same run.
// Usage: bun scripts/bench/fan-out.ts [--quick]
import { randomBytes } from 'node:crypto';
import { createRedisBus, publishBatchProgress, type EventBus } from '../../core/events/index.ts';
import { batches, newId } from '../../schema/index.ts';
import {
  createScratchDatabase,
  ensureFetchLimit,
  modeOf,
  quantile,
  REDIS_URL,
  report,
  round,
  say,
  spawnBun,
  type Child,
} from './support.ts';

await ensureFetchLimit();
const { quick } = modeOf();
const SIZES = quick ? { subscribers: 20, events: 5, referenceEvents: 3 } : { subscribers: 1000, events: 100, referenceEvents: 30 };
/** Longer than the hub's 250 ms coalescing interval, so every event is sent at once and its lag is the transport's alone. */
const EVENT_GAP_MS = 400;
const GOAL_P99_MS = 250;
const NAME = 'fan-out';
const QUERY = `subscription ($id: ID!) {
  batchProgress(id: $id) { batchId status total completed failed remaining tokensPerSecond estimatedSecondsLeft final updatedAt }
}`;

/** Subscribers of one batch, each a raw SSE fetch; for every counter value, when the last of them saw it. */
interface Audience {
  /** Resolves when every subscriber has seen `completed` reach `value`. */
  reached(value: number, timeoutMs?: number): Promise<void>;
  /** performance.now() at which the last subscriber saw `completed` reach `value`. */
  lastArrival(value: number): number | undefined;
  close(): void;
}

async function subscribe(url: string, batchId: string, count: number): Promise<Audience> {
  const abort = new AbortController();
  const seenBy = new Map<number, number>();
  const lastAt = new Map<number, number>();
  const waiters = new Set<() => void>();
  const arrive = (from: number, to: number) => {
    const now = performance.now();
    // A subscriber that skipped values (slow clients get the newest state) has seen them all.
    for (let value = from + 1; value <= to; value++) {
      const n = (seenBy.get(value) ?? 0) + 1;
      seenBy.set(value, n);
      if (n === count) lastAt.set(value, now);
    }
    for (const w of waiters) w();
  };
  const body = JSON.stringify({ query: QUERY, variables: { id: batchId } });
  const one = async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body,
      signal: abort.signal,
    });
    if (!response.ok || !response.body) throw new Error(`the subscription was refused: ${response.status} ${await response.text()}`);
    const decoder = new TextDecoder();
    let seen = -1;
    let carry = '';
    try {
      for await (const chunk of response.body) {
        const text = carry + decoder.decode(chunk, { stream: true });
        const cut = text.lastIndexOf('\n\n');
        carry = cut === -1 ? text : text.slice(cut + 2);
        for (const match of (cut === -1 ? '' : text.slice(0, cut)).matchAll(/"completed":(\d+)/g)) {
          const value = Number(match[1]);
          if (value > seen) {
            arrive(seen, value);
            seen = value;
          }
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  };
  let failure: Error | null = null;
  for (let i = 0; i < count; i++) {
    one().catch((error: unknown) => {
      failure ??= error instanceof Error ? error : new Error(String(error));
      for (const w of waiters) w();
    });
  }
  const audience: Audience = {
    reached(value, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`only ${seenBy.get(value) ?? 0} of ${count} subscribers saw ${value} in ${timeoutMs} ms`)),
          timeoutMs,
        );
        const done = (error?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = () => {
          if (failure) done(failure);
          else if ((seenBy.get(value) ?? 0) >= count) done();
        };
        waiters.add(check);
        check();
      });
    },
    lastArrival: (value) => lastAt.get(value),
    close: () => abort.abort(),
  };
  return audience;
}

/** Publishes `events` progress events `EVENT_GAP_MS` apart, counting on from `from`; the lags (ms) to the last subscriber. */
async function measure(bus: EventBus, audience: Audience, batchId: string, from: number, events: number, total: number): Promise<number[]> {
  const lags: number[] = [];
  for (let k = from + 1; k <= from + events; k++) {
    const publishedAt = performance.now();
    await publishBatchProgress(bus, {
      batchId,
      owner: 'local',
      status: 'in_progress',
      total,
      completed: k,
      failed: 0,
      promptTokens: 10 * k,
      completionTokens: 100 * k,
    });
    await audience.reached(k);
    lags.push(audience.lastArrival(k)! - publishedAt);
    await Bun.sleep(Math.max(0, EVENT_GAP_MS - (performance.now() - publishedAt)));
  }
  return lags;
}

const scratch = await createScratchDatabase(NAME);
const prefix = `vbs-bench:${process.pid}:${randomBytes(3).toString('hex')}:`;
let gateway: Child | undefined;
let bus: EventBus | undefined;
const audiences: Audience[] = [];
try {
  const batchId = newId('batch_');
  const total = 1 + SIZES.events + SIZES.referenceEvents;
  await scratch.database.db.insert(batches).values({
    id: batchId,
    owner: 'local',
    endpoint: '/v1/chat/completions',
    model: 'sim-model',
    completionWindow: '24h',
    status: 'in_progress',
    inputFileId: newId('file-'),
    total,
    inProgressAt: new Date(),
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  gateway = spawnBun(['gateway/entry/bun.ts'], {
    DATABASE_URL: scratch.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    PORT: '0',
    LOG_LEVEL: 'info',
  });
  const [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
  bus = await createRedisBus({ url: REDIS_URL, prefix });

  say(NAME, `1 subscriber, ${SIZES.referenceEvents} events`);
  const single = await subscribe(url, batchId, 1);
  audiences.push(single);
  await single.reached(0);
  const referenceLags = await measure(bus, single, batchId, 0, SIZES.referenceEvents, total);
  single.close();

  say(NAME, `${SIZES.subscribers} subscribers, ${SIZES.events} events`);
  const crowd = await subscribe(url, batchId, SIZES.subscribers);
  audiences.push(crowd);
  // Each subscriber starts from the row in Postgres (the events above were published only).
  await crowd.reached(0, 60_000);
  await Bun.sleep(EVENT_GAP_MS);
  const lags = await measure(bus, crowd, batchId, SIZES.referenceEvents, SIZES.events, total);
  const p99 = quantile(lags, 0.99);
  const referenceP99 = quantile(referenceLags, 0.99);
  report({
    name: NAME,
    title: 'Fan-out',
    result: { value: round(p99, 1), unit: 'ms', label: `p99 lag to the last of ${SIZES.subscribers} SSE subscribers` },
    reference: { value: round(referenceP99, 1), unit: 'ms', label: 'p99 lag to 1 subscriber' },
    ratio: round(p99 / referenceP99, 2),
    goal: `p99 < ${GOAL_P99_MS} ms`,
    pass: p99 < GOAL_P99_MS,
    details: {
      subscribers: SIZES.subscribers,
      events: SIZES.events,
      'p50 lag (ms)': round(quantile(lags, 0.5), 1),
      'max lag (ms)': round(Math.max(...lags), 1),
      'p50 lag, 1 subscriber (ms)': round(quantile(referenceLags, 0.5), 1),
      'gap between events (ms)': EVENT_GAP_MS,
    },
  });
} finally {
  for (const a of audiences) a.close();
  await bus?.close();
  await gateway?.stop();
  await scratch.drop();
}
