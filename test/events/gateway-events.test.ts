import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eq, sql } from 'drizzle-orm';
import { publishBatchProgress, publishBatchStatus, publishBatchStatuses, publishWorkerEvent } from '../../core/events/index.ts';
import { batches, handlerRuns, requests, type Database } from '../../schema/index.ts';
import { eventually } from '../fleet/helpers.ts';
import { useTestDatabase } from '../helpers/database.ts';
import {
  BATCH_PROGRESS,
  first,
  insertBatch,
  readAll,
  sseClient,
  startTestGateway,
  wsClient,
  type ProgressResult,
  type TestGateway,
} from './harness.ts';

/** The database with its statements counted, to prove what does and does not read it. */
function counting(database: Database): { database: Database; statements: () => number } {
  let statements = 0;
  const db = new Proxy(database.db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'execute') {
        return (...args: unknown[]) => {
          statements += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { database: { ...database, db }, statements: () => statements };
}

describe('gateway subscriptions and metrics', () => {
  const test = useTestDatabase();
  let gw: TestGateway;
  let statements: () => number;
  beforeAll(async () => {
    const counted = counting(test().database);
    statements = counted.statements;
    gw = await startTestGateway(counted.database);
  });
  afterAll(() => gw?.close());

  it("streams the caller's batches being created, changing status and finishing, and nobody else's", async () => {
    const client = wsClient(gw.url);
    try {
      const events = client.iterate({ query: 'subscription { batchEvents { kind batchId status previousStatus at } }' });
      // The subscription is active once the server has answered anything on it; prime it with one event.
      const primer = await waitUntilReceiving(events, () =>
        publishBatchStatus(gw.remote, { batchId: 'batch_primer', owner: 'local', from: 'in_progress', to: 'cancelling' }),
      );
      expect(primer).toMatchObject({ kind: 'STATUS_CHANGED', batchId: 'batch_primer' });
      await publishBatchStatus(gw.remote, { batchId: 'batch_theirs', owner: 'key_other', from: null, to: 'validating' });
      await publishBatchStatuses(gw.remote, [
        { batchId: 'batch_mine', owner: 'local', from: null, to: 'validating' },
        { batchId: 'batch_mine', owner: 'local', from: 'validating', to: 'in_progress' },
        { batchId: 'batch_mine', owner: 'local', from: 'in_progress', to: 'finalizing' },
        { batchId: 'batch_mine', owner: 'local', from: 'finalizing', to: 'completed' },
      ]);
      const got = await readAll(events, {
        until: (e) => (e.data as { batchEvents: { status: string } }).batchEvents.status === 'completed',
      });
      expect(got.map((e) => (e.data as { batchEvents: unknown }).batchEvents)).toEqual([
        expect.objectContaining({ kind: 'CREATED', batchId: 'batch_mine', status: 'validating', previousStatus: null }),
        expect.objectContaining({ kind: 'STATUS_CHANGED', status: 'in_progress', previousStatus: 'validating' }),
        expect.objectContaining({ kind: 'STATUS_CHANGED', status: 'finalizing' }),
        expect.objectContaining({ kind: 'FINISHED', status: 'completed', previousStatus: 'finalizing' }),
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('streams workers coming up, switching models, losing their heartbeat and going down', async () => {
    const events = sseClient(gw.url).iterate({ query: 'subscription { workerEvents { kind workerId host gpu model previousModel } }' });
    const worker = { workerId: 'w1', host: 'gpu-host-1', gpu: '0' };
    await waitUntilReceiving(events, () => publishWorkerEvent(gw.remote, { type: 'worker.up', ...worker, model: 'llama' }));
    await publishWorkerEvent(gw.remote, { type: 'worker.model_switch', ...worker, model: 'qwen', previousModel: 'llama' });
    await publishWorkerEvent(gw.remote, { type: 'worker.heartbeat_lost', ...worker, model: 'qwen' });
    await publishWorkerEvent(gw.remote, { type: 'worker.down', ...worker, model: null });
    const got = await readAll(events, { until: (e) => (e.data as { workerEvents: { kind: string } }).workerEvents.kind === 'DOWN' });
    expect(got.map((e) => (e.data as { workerEvents: { kind: string } }).workerEvents.kind)).toEqual([
      'MODEL_SWITCH',
      'HEARTBEAT_LOST',
      'DOWN',
    ]);
    expect((got[0]?.data as { workerEvents: unknown } | undefined)?.workerEvents).toEqual({
      kind: 'MODEL_SWITCH',
      workerId: 'w1',
      host: 'gpu-host-1',
      gpu: '0',
      model: 'qwen',
      previousModel: 'llama',
    });
  });

  it('reads postgres once per subscribe and once when the batch ends, never per event or per subscriber', async () => {
    const id = await insertBatch(test().database, { total: 100 });
    const client = sseClient(gw.url);
    const subscribers = Array.from(
      { length: 20 },
      () => client.iterate({ query: BATCH_PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>,
    );
    await Promise.all(subscribers.map((s) => first(s)));
    const before = statements();
    for (let done = 1; done <= 30; done++) {
      await publishBatchProgress(gw.remote, {
        batchId: id,
        owner: 'local',
        status: 'in_progress',
        total: 100,
        completed: done,
        failed: 0,
        promptTokens: 0,
        completionTokens: 0,
      });
    }
    const seen = await Promise.all(subscribers.map((s) => readAll(s, { until: (e) => e.data?.batchProgress.completed === 30 })));
    expect(seen.every((events) => events.at(-1)?.data?.batchProgress.completed === 30)).toBe(true);
    expect(statements() - before).toBe(0);

    const watchers = Array.from(
      { length: 20 },
      () => client.iterate({ query: BATCH_PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>,
    );
    await Promise.all(watchers.map((s) => first(s)));
    const beforeEnd = statements();
    await test().database.db.update(batches).set({ status: 'completed', completed: 100 }).where(eq(batches.id, id));
    await publishBatchStatus(gw.remote, { batchId: id, owner: 'local', from: 'finalizing', to: 'completed' });
    const finals = await Promise.all(watchers.map((s) => readAll(s)));
    expect(finals.every((events) => events.at(-1)?.data?.batchProgress.completed === 100)).toBe(true);
    // One read for the final counters, whatever the number of subscribers (the update above is not counted).
    expect(statements() - beforeEnd).toBe(1);
  });

  it('counts queued and leased requests per model, finished totals, handler runs and open subscriptions in /metrics', async () => {
    // Lines 1-2 queued, 3 leased, 4 succeeded and 5 failed (counted on their range); earlier results counted on the batch row.
    const id = await insertBatch(test().database, { total: 7, completed: 1, failed: 1, status: 'in_progress' });
    await test()
      .database.db.insert(requests)
      .values([1, 2, 3, 4, 5].map((line) => ({ batchId: id, line, customId: `r${line}`, model: 'metrics-model', body: '{}' })));
    await test().database.db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, lease_owner, lease_expires_at, finished_at)
      values (${id}, 'metrics-model', 'local', 1, 2, 2, 0, 0, null, null, null),
             (${id}, 'metrics-model', 'local', 3, 3, 1, 0, 0, 'w1', now() + interval '1 minute', null),
             (${id}, 'metrics-model', 'local', 4, 5, 2, 1, 1, null, null, now())`);
    await test().database.db.insert(handlerRuns).values({ batchId: id, handler: 'webhook', event: 'completed', status: 'dead' });
    const events = sseClient(gw.url).iterate({ query: BATCH_PROGRESS, variables: { id } });
    await first(events);
    // The gateway reads the database for /metrics at most once a second: a scrape by another test just before is served again.
    const text = await eventually(
      async () => {
        const res = await gw.app.request('/metrics');
        expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
        const body = await res.text();
        return body.includes('vbs_requests{model="metrics-model"') ? body : null;
      },
      5_000,
      'a read of the metrics after the ranges were inserted',
    );
    expect(text).toContain('vbs_requests{model="metrics-model",status="queued"} 2');
    expect(text).toContain('vbs_requests{model="metrics-model",status="leased"} 1');
    expect(text).toMatch(/vbs_requests_completed_total [1-9]\d*/);
    expect(text).toMatch(/vbs_requests_failed_total [1-9]\d*/);
    expect(text).toContain('vbs_handler_runs{handler="webhook",status="dead"} 1');
    expect(text).toMatch(/vbs_gateway_subscriptions\{subscription="batchProgress"\} [1-9]/);
    expect(text).toMatch(/vbs_gateway_http_requests_total\{method="POST",route="\/graphql",status="200"\} [1-9]/);
    await events.return?.();
  });

  it('labels HTTP requests by the route that answered them', async () => {
    await gw.app.request('/v1/batches/batch_unknown');
    await gw.app.request('/v1/files/file-unknown/content');
    const text = await (await gw.app.request('/metrics')).text();
    expect(text).toMatch(/^vbs_gateway_http_requests_total\{method="GET",route="\/v1\/batches\/:id",status="404"\} [1-9]/m);
    expect(text).toMatch(/^vbs_gateway_http_requests_total\{method="GET",route="\/v1\/files\/:id\/content",status="404"\} [1-9]/m);
    expect(text).toMatch(/^vbs_gateway_http_request_duration_seconds_count\{method="GET",route="\/v1\/batches\/:id"\} [1-9]/m);
  });

  it("counts methods outside HTTP's own under one label, so that clients cannot add series at will", async () => {
    // Deno's server hands any token on as the method; Node's fetch Request keeps it too.
    for (const method of ['FOO1', 'FOO2', 'BREW']) await gw.app.request('/health', { method });
    const text = await (await gw.app.request('/metrics')).text();
    expect(text).not.toMatch(/method="(FOO1|FOO2|BREW)"/);
    expect(text).toMatch(/^vbs_gateway_http_requests_total\{method="OTHER",route="[^"]*",status="404"\} 3$/m);
  });

  it('closes a WebSocket whose message is larger than a JSON body may be, before authenticating or parsing it', async () => {
    const socket = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send('x'.repeat(16 * 1024 * 1024 + 1));
    // 1009: message too big. Without a bound the message was read whole (ws allows 100 MiB) and then refused as malformed (4400).
    expect(await closed).toBe(1009);
  });

  it('forgets subscribers that disconnect, over SSE and WebSocket', async () => {
    const id = await insertBatch(test().database, { total: 5 });
    const open = async () =>
      Number(
        /^vbs_gateway_subscriptions\{subscription="batchProgress"\} (\d+)$/m.exec(await (await gw.app.request('/metrics')).text())?.[1] ??
          0,
      );
    // Subscriptions closed by earlier tests may still be on their way out.
    for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const baseline = await open();
    const ws = wsClient(gw.url);
    const viaSse = sseClient(gw.url).iterate({ query: BATCH_PROGRESS, variables: { id } });
    const viaWs = ws.iterate({ query: BATCH_PROGRESS, variables: { id } });
    await Promise.all([first(viaSse), first(viaWs)]);
    expect(await open()).toBe(baseline + 2);
    await Promise.all([viaSse.return?.(), viaWs.return?.()]);
    // The server learns of a closed stream when its socket closes; give it a moment, not a deadline.
    for (let i = 0; i < 100 && (await open()) > baseline; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await open()).toBe(baseline);
    await ws.dispose();
  });

  it('forgets SSE subscribers that leave before their subscription has answered', async () => {
    const id = await insertBatch(test().database, { total: 5 });
    const open = async () =>
      Number(
        /^vbs_gateway_subscriptions\{subscription="batchProgress"\} (\d+)$/m.exec(await (await gw.app.request('/metrics')).text())?.[1] ??
          0,
      );
    for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const baseline = await open();
    // Aborted a few milliseconds in: some while the gateway still reads the batch, some once it streams.
    for (const delay of [0, 1, 2, 3, 5]) {
      for (let i = 0; i < 10; i++) {
        const leaving = new AbortController();
        const request = fetch(`${gw.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ query: BATCH_PROGRESS, variables: { id } }),
          signal: leaving.signal,
        });
        setTimeout(() => leaving.abort(), delay);
        await request.then(
          (res) => res.body?.cancel(),
          () => undefined,
        );
      }
    }
    for (let i = 0; i < 100 && (await open()) > baseline; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await open()).toBe(baseline);
  });
});

/** Publishes until the subscription yields (it is active only once the server subscribed), and returns the first event. */
async function waitUntilReceiving<T>(events: AsyncIterableIterator<{ data?: T | null }>, publish: () => Promise<void>): Promise<unknown> {
  const next = events.next();
  let received = false;
  void next.then(() => (received = true));
  for (let i = 0; i < 100 && !received; i++) {
    await publish();
    await new Promise((r) => setTimeout(r, 50));
  }
  const result = await next;
  const data = result.value?.data as Record<string, unknown> | undefined;
  return data && Object.values(data)[0];
}
