import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webhook from '../../handlers/webhook/index.ts';
import { createTestContext, type HandlerError, verifyWebhook, type HandlerResult } from '../../handlers/sdk/index.ts';
import { startReceiver, type HttpReceiver } from './support/http-receiver.ts';

const secret = 'test-webhook-secret-123';
let receiver: HttpReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());

const result = (i: number): HandlerResult => ({
  id: `batch_req_${i}`,
  custom_id: `req-${i}`,
  response: { status_code: 200, request_id: `req_${i}`, body: { choices: [{ message: { content: `answer ${i}` } }] } },
  error: null,
  request: { messages: [{ role: 'user', content: `question ${i}` }] },
  metadata: null,
});

function context(options: Record<string, unknown> = {}, count = 3) {
  return createTestContext(webhook, {
    options: { url: `${receiver.url}/hook`, ...options },
    deployment: { secret, publicUrl: 'https://batches.example.test/' },
    batch: { id: 'batch_abc', output_file_id: 'file-out', error_file_id: null },
    results: function* () {
      for (let i = 1; i <= count; i++) yield result(i);
    },
  });
}

describe('the webhook handler', () => {
  it('posts a signed request that verifyWebhook accepts and a tampered body fails', async () => {
    receiver.received.length = 0;
    await webhook.handle(context());
    const [request] = receiver.received;
    expect(request?.path).toBe('/hook');
    const payload = verifyWebhook<{ type: string; data: Record<string, any> }>({ secret, headers: request!.headers, body: request!.body });
    expect(payload.type).toBe('batch.completed');
    expect(payload.data.batch.id).toBe('batch_abc');
    expect(payload.data.output_file).toEqual({
      id: 'file-out',
      path: '/v1/files/file-out/content',
      url: 'https://batches.example.test/v1/files/file-out/content',
    });
    expect(payload.data.error_file).toBeNull();
    expect(payload.data.results).toBeUndefined();
    const tampered = Buffer.from(request!.body.toString().replace('batch_abc', 'batch_xyz'));
    expect(() => verifyWebhook({ secret, headers: request!.headers, body: tampered })).toThrow('does not match');
  });

  it('includes the results inline when asked and they fit', async () => {
    receiver.received.length = 0;
    await webhook.handle(context({ includeResults: true }));
    const payload = JSON.parse(receiver.received[0]!.body.toString());
    expect(payload.data.results.map((r: HandlerResult) => r.custom_id)).toEqual(['req-1', 'req-2', 'req-3']);
  });

  it('omits the results when they pass the size limit, without reading them all', async () => {
    receiver.received.length = 0;
    let produced = 0;
    const ctx = createTestContext(webhook, {
      options: { url: receiver.url, includeResults: true, maxInlineBytes: 2000 },
      deployment: { secret },
      results: function* () {
        for (let i = 1; i <= 100_000; i++, produced++) yield result(i);
      },
    });
    await webhook.handle(ctx);
    const payload = JSON.parse(receiver.received[0]!.body.toString());
    expect(payload.data.results_omitted).toBe(true);
    expect(payload.data.results).toBeUndefined();
    expect(produced).toBeLessThan(100);
  });

  it('uses the batch secret over the deployment secret, and sends extra headers', async () => {
    receiver.received.length = 0;
    await webhook.handle(context({ secret: 'per-batch-secret-4567', headers: { authorization: 'Bearer abc' } }));
    const request = receiver.received[0]!;
    expect(request.headers.authorization).toBe('Bearer abc');
    expect(() => verifyWebhook({ secret, headers: request.headers, body: request.body })).toThrow();
    expect(verifyWebhook({ secret: 'per-batch-secret-4567', headers: request.headers, body: request.body })).toBeTruthy();
  });

  it('keeps the message id across attempts so receivers can drop duplicates', async () => {
    receiver.received.length = 0;
    await webhook.handle(context());
    await webhook.handle(context());
    expect(receiver.received[0]!.headers['webhook-id']).toBe(receiver.received[1]!.headers['webhook-id']);
  });

  it('fails retryably on 5xx and 429 (with Retry-After), permanently on other 4xx', async () => {
    const attempt = async (status: number, headers?: Record<string, string>) => {
      receiver.reply = () => ({ status, headers });
      try {
        await webhook.handle(context());
      } catch (error) {
        return error as HandlerError;
      } finally {
        receiver.reply = () => ({ status: 200 });
      }
      throw new Error('expected a failure');
    };
    expect(await attempt(503)).toMatchObject({ retryable: true, message: expect.stringContaining('503') });
    expect(await attempt(429, { 'retry-after': '7' })).toMatchObject({ retryable: true, retryAfterMs: 7000 });
    expect(await attempt(404)).toMatchObject({ retryable: false });
  });

  it('requires a secret when the deployment has none', () => {
    expect(() => createTestContext(webhook, { options: { url: receiver.url } })).toThrow('handlers.webhook.secret: required');
  });

  it('runs only for the events the batch asked for', () => {
    expect(webhook.events).toBeTypeOf('function');
    const events = (webhook.events as (o: { events: string[] }) => string[])({ events: ['failed'] });
    expect(events).toEqual(['failed']);
  });

  it('refuses a whsec_ secret that is not base64, which would sign with an empty key', () => {
    expect(() => context({ secret: `whsec_${'!'.repeat(20)}` })).toThrow('handlers.webhook.secret');
    expect(() => createTestContext(webhook, { options: { url: receiver.url }, deployment: { secret: 'whsec_.................' } })).toThrow(
      'deployment.secret',
    );
    expect(() => context({ secret: `whsec_${Buffer.from('sixteen byte key').toString('base64')}` })).not.toThrow();
  });

  it('logs where it delivered without the path, query or credentials of the URL, which often carry a token', async () => {
    const logged: unknown[] = [];
    const logger = {
      debug: () => {},
      info: (m: string, f?: unknown) => void logged.push(m, f),
      warn: () => {},
      error: () => {},
      child: () => logger,
    };
    const ctx = createTestContext(webhook, {
      options: { url: `${receiver.url}/hooks/T0001/s3cr3t-token?sig=s3cr3t-query` },
      deployment: { secret },
      logger,
    });
    await webhook.handle(ctx);
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toContain('s3cr3t');
    expect(JSON.stringify(logged)).toContain(receiver.url);
  });
});
