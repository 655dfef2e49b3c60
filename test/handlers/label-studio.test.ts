import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import labelStudio from '../../handlers/label-studio/index.ts';
import { createTestContext, type HandlerError, type HandlerResult } from '../../handlers/sdk/index.ts';
import { startReceiver } from './support/http-receiver.ts';
import { startLabelStudio, type LabelStudioServer } from './support/label-studio-server.ts';

let server: LabelStudioServer;
beforeAll(async () => {
  server = await startLabelStudio({ projects: [3, 4, 5, 6, 7] });
});
afterAll(() => server.close());

const results = (n: number, failedEvery = 0) =>
  function* (): Generator<HandlerResult> {
    for (let i = 1; i <= n; i++) {
      const failed = failedEvery > 0 && i % failedEvery === 0;
      yield {
        id: `batch_req_${i}`,
        custom_id: `q-${i}`,
        response: failed
          ? null
          : { status_code: 200, request_id: `r${i}`, body: { choices: [{ message: { role: 'assistant', content: `output ${i}` } }] } },
        error: failed ? { code: 'engine_error', message: 'boom' } : null,
      };
    }
  };

const context = (projectId: number, options: Record<string, unknown> = {}, n = 5, extra: Parameters<typeof createTestContext>[1] = {}) =>
  createTestContext(labelStudio, {
    options: { projectId, ...options },
    deployment: { url: server.url, token: server.token },
    batch: { id: 'batch_ls', model: 'sim-model' },
    results: results(n, 5),
    ...extra,
  });

describe('the Label Studio handler', () => {
  it('imports one task per successful result with the output as a TextArea prediction', async () => {
    const summary = await labelStudio.handle(context(3));
    const tasks = server.projects.get(3)!;
    expect(summary).toEqual({ projectId: 3, imported: 4 });
    expect(tasks.map((t) => t.data.custom_id)).toEqual(['q-1', 'q-2', 'q-3', 'q-4']);
    expect(tasks[0]).toEqual({
      data: { response: 'output 1', custom_id: 'q-1', batch_id: 'batch_ls', status_code: 200 },
      predictions: [
        {
          model_version: 'sim-model',
          result: [{ from_name: 'answer', to_name: 'response', type: 'textarea', value: { text: ['output 1'] } }],
        },
      ],
    });
    expect(server.requests.at(-1)?.headers.authorization).toBe(`Token ${server.token}`);
  });

  it('imports in chunks, includes failures when asked, and uses the configured names', async () => {
    const before = server.requests.length;
    await labelStudio.handle(
      context(4, { chunkSize: 2, includeErrors: true, textKey: 'text', fromName: 'review', toName: 'text', modelVersion: 'v7' }, 5),
    );
    expect(server.requests.length - before).toBe(3);
    const tasks = server.projects.get(4)!;
    expect(tasks).toHaveLength(5);
    expect(tasks[4]?.data).toMatchObject({ text: 'error engine_error: boom', custom_id: 'q-5' });
    expect(tasks[0]?.predictions?.[0]).toEqual({
      model_version: 'v7',
      result: [{ from_name: 'review', to_name: 'text', type: 'textarea', value: { text: ['output 1'] } }],
    });
  });

  it('saves progress after each chunk and resumes from it on retry', async () => {
    server.failRequest(1);
    const first = context(5, { chunkSize: 3 }, 12);
    await expect(labelStudio.handle(first)).rejects.toMatchObject({ retryable: true });
    expect(first.saved).toEqual([{ imported: 3 }]);
    await labelStudio.handle(context(5, { chunkSize: 3 }, 12, { checkpoint: first.saved.at(-1), attempt: 2 }));
    expect(server.projects.get(5)!.map((t) => t.data.custom_id)).toEqual([
      'q-1',
      'q-2',
      'q-3',
      'q-4',
      'q-6',
      'q-7',
      'q-8',
      'q-9',
      'q-11',
      'q-12',
    ]);
  });

  it('gives up at once on a wrong token or project, and retries a 429 after Retry-After', async () => {
    const wrongToken = createTestContext(labelStudio, {
      options: { projectId: 6, token: 'wrong' },
      deployment: { url: server.url },
      results: results(1),
    });
    await expect(labelStudio.handle(wrongToken)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('401') });
    await expect(labelStudio.handle(context(999))).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('404') });
    server.failRequest(0, { status: 429, headers: { 'retry-after': '3' } });
    const error = (await labelStudio.handle(context(6)).catch((e: unknown) => e)) as HandlerError;
    expect(error).toMatchObject({ retryable: true, retryAfterMs: 3000 });
  });

  it('needs a URL and a token from the batch or the deployment', () => {
    expect(() => createTestContext(labelStudio, { options: { projectId: 1 } })).toThrow(
      'handlers.labelStudio.url: required: this deployment has no default Label Studio URL; handlers.labelStudio.token: required',
    );
  });

  it("never sends the deployment's token to a URL the batch gave", async () => {
    const elsewhere = await startReceiver();
    try {
      // Any API user may create a batch: one naming its own server must not receive the deployment's token.
      expect(() => context(7, { url: `${elsewhere.url}/` })).toThrow('handlers.labelStudio.token: required');
      const ctx = createTestContext(labelStudio, {
        options: { projectId: 7, url: elsewhere.url, token: 'their-own-token' },
        deployment: { url: server.url, token: server.token },
        results: results(1),
      });
      await labelStudio.handle(ctx);
      expect(elsewhere.received.map((r) => r.headers.authorization)).toEqual(['Token their-own-token']);
      // The deployment's own URL, given again by the batch, keeps the deployment's token.
      await labelStudio.handle(context(7, { url: server.url }, 1));
      expect(server.requests.at(-1)?.headers.authorization).toBe(`Token ${server.token}`);
    } finally {
      await elsewhere.close();
    }
  });
});
