import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBus, type EventBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { ProgressState } from '../../gateway/subscriptions/progress-state.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { first, insertBatch, readUntil, sseClient, startTestGateway, wsClient, type TestGateway } from './harness.ts';

const PROGRESS = `subscription ($id: ID!) { batchProgress(id: $id) { batchId status paused pausedAt estimatedSecondsLeft final } }`;

interface PauseProgress {
  data?: { batchProgress: { batchId: string; status: string; paused: boolean; pausedAt: string | null; final: boolean } };
}

describe('batchProgress of a paused batch', () => {
  const test = useTestDatabase();
  let gw: TestGateway;
  // A second replica on the same Redis channels, called in-process.
  let replica: ReturnType<typeof createApp>;
  let replicaBus: EventBus;
  beforeAll(async () => {
    gw = await startTestGateway(test().database);
    replicaBus = await createRedisBus({ url: TEST_REDIS_URL, prefix: gw.prefix });
    replica = createApp({
      config: loadGatewayConfig({}),
      database: test().database,
      logger: createLogger({ level: 'silent' }),
      bus: replicaBus,
    });
  });
  afterAll(async () => {
    await replica?.close();
    await replicaBus?.close();
    await gw?.close();
  });

  const post = (id: string, action: string) => fetch(`${gw.url}/v1/batches/${id}/${action}`, { method: 'POST' });

  it('says at once that the batch is paused, still in_progress, and that it runs again on resume (SSE)', async () => {
    const id = await insertBatch(test().database, { total: 10 });
    const events = sseClient(gw.url).iterate({ query: PROGRESS, variables: { id } }) as AsyncIterableIterator<PauseProgress>;
    expect((await first(events)).data?.batchProgress).toMatchObject({ status: 'in_progress', paused: false, pausedAt: null });
    expect((await post(id, 'pause')).status).toBe(200);
    const paused = (await first(events)).data?.batchProgress;
    expect(paused).toMatchObject({ status: 'in_progress', paused: true, pausedAt: expect.any(String), final: false });
    expect((await post(id, 'resume')).status).toBe(200);
    expect((await first(events)).data?.batchProgress).toMatchObject({ status: 'in_progress', paused: false, pausedAt: null });
    await events.return?.();
  });

  it('starts paused when the batch already is, and hears a pause made through another replica (WebSocket)', async () => {
    const id = await insertBatch(test().database, { total: 10 });
    await post(id, 'pause');
    const client = wsClient(gw.url);
    const started = client.iterate({ query: PROGRESS, variables: { id } }) as AsyncIterableIterator<PauseProgress>;
    expect((await first(started)).data?.batchProgress).toMatchObject({ paused: true });
    const onReplica = (action: string) => replica.request(`/v1/batches/${id}/${action}`, { method: 'POST' });
    expect((await onReplica('resume')).status).toBe(200);
    await readUntil(started, (e) => e.data?.batchProgress.paused === false, 10_000);
    expect((await onReplica('pause')).status).toBe(200);
    await readUntil(started, (e) => e.data?.batchProgress.paused === true, 10_000);
    await started.return?.();
    await client.dispose();
  });
});

describe('ProgressState and a pause', () => {
  const counters = { status: 'in_progress' as const, total: 10, completed: 0, failed: 0, promptTokens: 0, completionTokens: 0 };

  it('takes the newest news of a pause, whatever order it arrives in, and gives no estimate while paused', () => {
    const state = new ProgressState('batch_x', counters, 1000);
    expect(state.setPaused(5000, 2000)).toBe(true);
    expect(state.snapshot(3000)).toMatchObject({ paused: true, pausedAt: new Date(5000), estimatedSecondsLeft: null });
    // A resume published at 4000, then a read begun at 3000 that still saw the pause: the resume stands.
    expect(state.setPaused(null, 4000)).toBe(true);
    expect(state.setPaused(5000, 3000)).toBe(false);
    expect(state.snapshot(5000)).toMatchObject({ paused: false, pausedAt: null });
  });

  it('no longer says paused once the batch has ended', () => {
    const state = new ProgressState('batch_y', counters, 1000, 500);
    state.merge({ status: 'cancelled' });
    expect(state.snapshot()).toMatchObject({ final: true, paused: false, pausedAt: null });
  });
});
