import { fixture } from '../helpers/fixtures.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { readAll, readUntil, sseClient, wsClient, type ProgressResult } from './harness.ts';
import { uniquePrefix } from './helpers.ts';

const KEY = 'replica-test-key';
const AUTH = `Bearer ${KEY}`;
const INPUT = fixture('chat-100.jsonl');
const LINES = INPUT.toString().trim().split('\n').length;

const BATCH_EVENTS = 'subscription { batchEvents { kind batchId status } }';
const PROGRESS = 'subscription ($id: ID!) { batchProgress(id: $id) { status total completed failed final } }';

type BatchEventResult = { data?: { batchEvents: { kind: string; batchId: string; status: string } } };

const listening = async (process: Running) => (await process.waitFor(/"url":"(http:[^"]+)"/, 30_000))[1]!;

describe('live events across gateway replicas, with a worker in between', () => {
  const test = useTestDatabase();
  const prefix = uniquePrefix();
  const processes: Running[] = [];
  let a: string;
  let b: string;
  let workerMetrics: string;

  beforeAll(async () => {
    const common = { DATABASE_URL: test().url, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, LOG_LEVEL: 'info' };
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      '--port',
      '0',
      '--model',
      'sim-model',
      '--slots',
      '32',
      '--ttft-ms',
      '20',
      '--tpot-ms',
      '10',
    ]);
    const gatewayA = start(BUN, ['gateway/entry/bun.ts'], { env: { ...common, PORT: '0', API_KEYS: KEY } });
    const gatewayB = start(BUN, ['gateway/entry/bun.ts'], { env: { ...common, PORT: '0', API_KEYS: KEY } });
    processes.push(sim, gatewayA, gatewayB);
    const [engineUrl, urlA, urlB] = await Promise.all([listening(sim), listening(gatewayA), listening(gatewayB)]);
    a = urlA;
    b = urlB;
    const worker = start(BUN, ['fleet/entry/worker.ts'], {
      env: { ...common, ENGINE_URL: engineUrl, WORKER_MODEL: 'sim-model', WORKER_ID: `events-${prefix}`, METRICS_PORT: '0' },
    });
    processes.push(worker);
    workerMetrics = (await worker.waitFor(/"metrics_url":"(http:[^"]+)"/, 30_000))[1]!;
  }, 90_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
  });

  it('shows a subscriber on gateway B every status of a batch created on gateway A, over SSE and WebSocket, and 200 subscribers the final event', {
    timeout: 120_000,
  }, async () => {
    const ws = wsClient(b, { authorization: AUTH });
    try {
      const sseEvents = sseClient(b, { authorization: AUTH }).iterate({ query: BATCH_EVENTS }) as AsyncIterableIterator<BatchEventResult>;
      const wsEvents = ws.iterate({ query: BATCH_EVENTS }) as AsyncIterableIterator<BatchEventResult>;
      // Both subscriptions must be active before the batch is created: an event of a primer batch proves it.
      const primer = await createBatch(a);
      await Promise.all([
        readUntil(sseEvents, (e) => e.data?.batchEvents.batchId === primer && e.data.batchEvents.kind === 'FINISHED'),
        readUntil(wsEvents, (e) => e.data?.batchEvents.batchId === primer && e.data.batchEvents.kind === 'FINISHED'),
      ]);

      const id = await createBatch(a);
      const progress = {
        sse: readAll(
          sseClient(b, { authorization: AUTH }).iterate({ query: PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>,
          { timeoutMs: 60_000 },
        ),
        ws: readAll(ws.iterate({ query: PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>, { timeoutMs: 60_000 }),
      };
      const crowd = sseClient(b, { authorization: AUTH });
      const finals = Promise.all(
        Array.from({ length: 200 }, () =>
          readAll(crowd.iterate({ query: PROGRESS, variables: { id } }) as AsyncIterableIterator<ProgressResult>, { timeoutMs: 60_000 }),
        ),
      );

      const mine = (e: BatchEventResult) => e.data?.batchEvents.batchId === id;
      const [sseStatuses, wsStatuses] = await Promise.all(
        [sseEvents, wsEvents].map(async (events) =>
          (await readUntil(events, (e) => mine(e) && e.data!.batchEvents.kind === 'FINISHED'))
            .filter(mine)
            .map((e) => e.data!.batchEvents.status),
        ),
      );
      expect(sseStatuses).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);
      expect(wsStatuses).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);

      for (const events of [await progress.sse, await progress.ws]) {
        expect(events.at(-1)?.data?.batchProgress).toEqual({ status: 'completed', total: LINES, completed: LINES, failed: 0, final: true });
        const statuses = events.map((e) => e.data?.batchProgress.status);
        expect(statuses.filter((s, i) => s !== statuses[i - 1]).slice(-2)).toEqual(['finalizing', 'completed']);
      }
      const everyone = await finals;
      expect(
        everyone.filter(
          (events) => events.at(-1)?.data?.batchProgress.final === true && events.at(-1)?.data?.batchProgress.status === 'completed',
        ),
      ).toHaveLength(200);
    } finally {
      await ws.dispose();
    }
  });

  it("counts the batch's requests in the gateway's /metrics, behind the API key, and in the worker's own", async () => {
    expect((await fetch(`${b}/metrics`)).status).toBe(401);
    const text = await (await fetch(`${b}/metrics`, { headers: { authorization: AUTH } })).text();
    expect(Number(/^vbs_requests_completed_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(LINES);
    expect(text).toMatch(/^vbs_batches\{status="completed"\} [1-9]/m);
    const worker = await fetch(workerMetrics);
    expect(worker.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const own = await worker.text();
    expect(Number(/^vbs_worker_requests_completed_total\{model="sim-model"\} (\d+)$/m.exec(own)?.[1])).toBeGreaterThanOrEqual(LINES);
    expect(own).toMatch(/^vbs_worker_info\{.*model="sim-model"\} 1$/m);
  });

  it('refuses subscriptions without a valid key, over SSE and WebSocket', async () => {
    const [sse] = await readAll(sseClient(b, { authorization: 'Bearer wrong' }).iterate({ query: BATCH_EVENTS }), {
      timeoutMs: 10_000,
    }).then(
      (events) => events,
      (err: Error) => [err],
    );
    expect(String(sse instanceof Error ? sse.message : JSON.stringify(sse))).toMatch(/401/);
    const ws = wsClient(b, { authorization: 'Bearer wrong' });
    try {
      const outcome = await readAll(ws.iterate({ query: BATCH_EVENTS }), { timeoutMs: 10_000 }).then(
        () => 'completed',
        (err: unknown) => String((err as { code?: number }).code ?? err),
      );
      expect(outcome).toBe('4403');
    } finally {
      await ws.dispose();
    }
  });
});

/** Uploads the chat fixture and creates a batch from it on a gateway; returns the batch id. */
async function createBatch(url: string): Promise<string> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([INPUT]), 'chat-100.jsonl');
  const file = (await (await fetch(`${url}/v1/files`, { method: 'POST', headers: { authorization: AUTH }, body: form })).json()) as {
    id: string;
  };
  const res = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  const batch = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(batch)).toBe(200);
  return batch.id;
}
