import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { verifyWebhook, type HandlerRegistry } from '../../handlers/sdk/index.ts';
import { completeRequests, leaseRequests, settleBatch } from '../../schema/index.ts';
import { createPgliteDatabase, useTestDatabase } from '../helpers/database.ts';
import { startReceiver, type HttpReceiver } from './support/http-receiver.ts';
import { finishedBatch, runsEnded } from './support/batches.ts';

const SECRET = 'per-batch-secret-for-this-test';
const test = useTestDatabase();
// The receiver listens on loopback, which batches may name only where the operator allows it.
const ENV = { PUBLIC_URL: 'http://gateway.test', HANDLER_ALLOWED_HOSTS: '127.0.0.1' };
let app: ReturnType<typeof createApp>;
let registry: HandlerRegistry;
let receiver: HttpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
  registry = await loadHandlers({ env: ENV });
  app = createApp({
    config: loadGatewayConfig(ENV),
    database: test().database,
    logger: createLogger({ level: 'silent' }),
    handlers: registry,
  });
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
});

describe('a batch created with webhook options', () => {
  it('delivers a signed request when it completes, which verifyWebhook accepts and a tampered body fails', async () => {
    const { database } = test();
    // The receiver is the file's: only what this test delivers counts.
    receiver.received.length = 0;
    const form = new FormData();
    form.set('purpose', 'batch');
    const lines = [1, 2, 3].map((i) =>
      JSON.stringify({
        custom_id: `q${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'sim-model', messages: [{ role: 'user', content: `hi ${i}` }] },
      }),
    );
    form.set('file', new File([`${lines.join('\n')}\n`], 'input.jsonl'));
    const file = (await (await app.request('/v1/files', { method: 'POST', body: form })).json()) as { id: string };
    const created = await app.request('/v1/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        handlers: { webhook: { url: `${receiver.url}/batches`, secret: SECRET } },
      }),
    });
    expect(created.status).toBe(200);
    const batch = (await created.json()) as { id: string };
    await app.validator.idle();

    // What a worker does: lease the requests, write their results, settle the batch.
    const leased = await leaseRequests(database.db, { owner: 'test-worker', model: 'sim-model', limit: 10, leaseMs: 60_000 });
    expect(leased).toHaveLength(3);
    await completeRequests(
      database.db,
      'test-worker',
      leased.map((r) => ({
        id: r.id,
        rangeId: r.rangeId,
        batchId: r.batchId,
        line: r.line,
        startedAtMs: Date.now(),
        status: 'succeeded' as const,
        statusCode: 200,
        response: JSON.stringify({
          id: `chatcmpl-${r.line}`,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content: `answer ${r.line}` } }],
        }),
        engineRequestId: `chatcmpl-${r.line}`,
        error: null,
        promptTokens: 3,
        completionTokens: 2,
      })),
    );
    await settleBatch(database.db, batch.id);

    const runner = createHandlerRunner({
      database,
      registry,
      destinations: loadGatewayConfig(ENV).destinations,
      logger: createLogger({ level: 'silent' }),
      pollIntervalMs: 50,
    });
    runner.start();
    try {
      expect((await runsEnded(database, batch.id))[0]).toMatchObject({
        handler: 'webhook',
        status: 'succeeded',
        attempts: 1,
        result: { status: 200 },
      });
    } finally {
      await runner.stop();
    }

    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0]!;
    const payload = verifyWebhook<{
      type: string;
      data: { batch: { id: string; status: string; request_counts: unknown }; output_file: { url: string } };
    }>({
      secret: SECRET,
      headers: request.headers,
      body: request.body,
    });
    expect(payload.type).toBe('batch.completed');
    expect(payload.data.batch).toMatchObject({ id: batch.id, status: 'completed', request_counts: { total: 3, completed: 3, failed: 0 } });
    const download = await app.request(payload.data.output_file.url.replace('http://gateway.test', ''));
    expect(
      (await download.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).custom_id),
    ).toEqual(['q1', 'q2', 'q3']);

    const tampered = Buffer.from(request.body.toString().replace('"completed"', '"failed"'));
    expect(() => verifyWebhook({ secret: SECRET, headers: request.headers, body: tampered })).toThrow(
      'the webhook signature does not match the body',
    );
  });

  it('gives each delivery a message id unique beyond its database, so receivers drop only true duplicates', async () => {
    // Two deployments (or one whose database was reset): each one's first handler run has id 1.
    const databases = [await createPgliteDatabase(), await createPgliteDatabase()];
    receiver.received.length = 0;
    try {
      for (const database of databases) {
        const batchId = await finishedBatch(database, { handlers: { webhook: { url: `${receiver.url}/batches`, secret: SECRET } } });
        const runner = createHandlerRunner({
          database,
          registry,
          destinations: loadGatewayConfig(ENV).destinations,
          logger: createLogger({ level: 'silent' }),
          pollIntervalMs: 50,
        });
        runner.start();
        try {
          expect((await runsEnded(database, batchId))[0]).toMatchObject({ id: 1, status: 'succeeded' });
        } finally {
          await runner.stop();
        }
      }
    } finally {
      await Promise.all(databases.map((d) => d.close()));
    }
    const ids = receiver.received.map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });
});
