import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import labelStudio, { LABEL_CONFIG, labelConfig } from '../../handlers/label-studio/index.ts';
import { createTestContext, type HandlerError, type HandlerResult } from '../../handlers/sdk/index.ts';
import { startReceiver } from './support/http-receiver.ts';
import { configVariables, startLabelStudioStandin, type LabelStudioStandin } from './support/label-studio-standin.ts';

// Against a stand-in that speaks Label Studio's import and project API as its source has them
// (see support/label-studio-standin.ts for the files and commits of HumanSignal/label-studio).
let server: LabelStudioStandin;
beforeAll(async () => {
  server = await startLabelStudioStandin({ projects: [3, 4, 5, 6, 7, 8, 9, 10, 11] });
});
afterAll(() => server.close());

const chat = (i: number) => ({
  model: 'sim-model',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: `question ${i}` },
  ],
});

const results = (n: number, failedEvery = 0, request: (i: number) => unknown = chat) =>
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
        request: request(i),
        metadata: null,
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

const tasksOf = (projectId: number) => server.projects.get(projectId)!.tasks;

describe('the Label Studio handler', () => {
  it('sets the labeling configuration, then imports one task per result with its prompt, answer and ids, the answer as a prediction', async () => {
    const summary = await labelStudio.handle(context(3));
    expect(summary).toEqual({ projectId: 3, imported: 4 });
    expect(server.projects.get(3)!.label_config).toBe(LABEL_CONFIG);
    const tasks = tasksOf(3);
    expect(tasks.map((t) => t.data.custom_id)).toEqual(['q-1', 'q-2', 'q-3', 'q-4']);
    expect(tasks[0]).toMatchObject({
      data: {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'question 1' },
        ],
        prompt: 'system: Be brief.\n\nuser: question 1',
        response: 'output 1',
        custom_id: 'q-1',
        batch_id: 'batch_ls',
        status_code: 200,
      },
      predictions: [
        {
          model_version: 'sim-model',
          result: [{ from_name: 'correction', to_name: 'response', type: 'textarea', value: { text: ['output 1'] } }],
        },
      ],
    });
    expect(typeof tasks[0]!.id).toBe('number');
    expect(server.requests.slice(-2).map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
      ['PATCH', '/api/projects/3/', `Token ${server.token}`],
      ['POST', '/api/projects/3/import', `Token ${server.token}`],
    ]);
  });

  it('has a labeling configuration with a gold star, a 1-5 rating and a correction area over data the import fills', () => {
    expect(LABEL_CONFIG).toContain('<Choice value="Gold"');
    expect(LABEL_CONFIG).toMatch(/<Rating name="rating" toName="response" maxRating="5"/);
    expect(LABEL_CONFIG).toMatch(/<TextArea name="correction" toName="response" editable="true"/);
    expect(LABEL_CONFIG).toContain('<Paragraphs name="prompt" value="$messages" layout="dialogue" nameKey="role" textKey="content"/>');
    // Label Studio refuses an import whose data lacks a variable of the config.
    expect(configVariables(LABEL_CONFIG)).toEqual(['messages', 'response']);
    expect(labelConfig({ textKey: 'text', fromName: 'review', toName: 'answer' })).toMatch(
      /<Text name="answer" value="\$text"\/>[\s\S]*<TextArea name="review" toName="answer"/,
    );
  });

  it('renders completions, multimodal messages and purged requests as readable turns', async () => {
    const requests: Record<number, unknown> = {
      1: { model: 'm', prompt: 'Once upon a time' },
      2: {
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image_url', image_url: { url: 'x' } },
            ],
          },
        ],
      },
      3: null,
    };
    await labelStudio.handle(context(8, {}, 3, { results: results(3, 0, (i) => requests[i]) }));
    expect(tasksOf(8).map((t) => [t.data.messages, t.data.prompt])).toEqual([
      [[{ role: 'prompt', content: 'Once upon a time' }], 'prompt: Once upon a time'],
      [[{ role: 'user', content: 'what is this?\n[image_url]' }], 'user: what is this?\n[image_url]'],
      [[], ''],
    ]);
  });

  it("keeps a project's own configuration when told to, and stops when the tasks lack what it reads", async () => {
    server.projects.get(9)!.label_config = '<View><Text name="t" value="$text"/><TextArea name="review" toName="t"/></View>';
    await expect(labelStudio.handle(context(9, { setLabelConfig: false }))).rejects.toMatchObject({
      retryable: false,
      message: expect.stringContaining('data is missing text used in the labeling config'),
    });
    await labelStudio.handle(context(9, { setLabelConfig: false, textKey: 'text', fromName: 'review', toName: 't' }));
    expect(server.projects.get(9)!.label_config).toContain('$text');
    expect(tasksOf(9)[0]).toMatchObject({
      data: { text: 'output 1' },
      predictions: [{ result: [{ from_name: 'review', to_name: 't', type: 'textarea', value: { text: ['output 1'] } }] }],
    });
  });

  it('sets the configuration only on a project without one: a project someone configured keeps theirs', async () => {
    const own =
      '<View><Paragraphs name="p" value="$messages" layout="dialogue" nameKey="role" textKey="content"/><Text name="response" value="$response"/><TextArea name="correction" toName="response"/></View>';
    server.projects.get(10)!.label_config = own;
    await labelStudio.handle(context(10));
    expect(server.projects.get(10)!.label_config).toBe(own);
    expect(tasksOf(10)).toHaveLength(4);
  });

  it('refuses an answer key the import writes itself', () => {
    expect(() => context(3, { textKey: 'custom_id' })).toThrow('handlers.labelStudio.textKey: expected a key other than messages, prompt');
    expect(() => context(3, { textKey: 'metadata' })).toThrow('handlers.labelStudio.textKey: expected a key other than');
  });

  it('puts the metadata handlers before it attached into the task data, so that a labeling config can show it', async () => {
    const withMetadata = function* (): Generator<HandlerResult> {
      for (const result of results(2)()) {
        yield { ...result, metadata: result.custom_id === 'q-1' ? { topic: 'billing', entities: ['invoice'] } : null };
      }
    };
    await labelStudio.handle(context(11, {}, 2, { results: withMetadata }));
    const [first, second] = tasksOf(11);
    expect(first?.data).toMatchObject({ custom_id: 'q-1', metadata: { topic: 'billing', entities: ['invoice'] } });
    expect(second?.data.custom_id).toBe('q-2');
    expect(second?.data).not.toHaveProperty('metadata');
  });

  it('imports in chunks, includes failures when asked, and uses the configured names', async () => {
    const before = server.requests.length;
    await labelStudio.handle(
      context(4, { chunkSize: 2, includeErrors: true, textKey: 'text', fromName: 'review', toName: 'text', modelVersion: 'v7' }, 5),
    );
    expect(server.requests.length - before).toBe(5); // the project read, its configuration set, then 3 chunks
    const tasks = tasksOf(4);
    expect(tasks).toHaveLength(5);
    expect(tasks[4]?.data).toMatchObject({ text: 'error engine_error: boom', custom_id: 'q-5' });
    expect(tasks[0]?.predictions?.[0]).toMatchObject({
      model_version: 'v7',
      result: [{ from_name: 'review', to_name: 'text', type: 'textarea', value: { text: ['output 1'] } }],
    });
    expect(server.projects.get(4)!.label_config).toBe(labelConfig({ textKey: 'text', fromName: 'review', toName: 'text' }));
  });

  it('saves progress after each chunk and resumes from it on retry, without setting the configuration again', async () => {
    server.failRequest(3); // the project read, its configuration, the first chunk, then the second fails
    const first = context(5, { chunkSize: 3 }, 12);
    await expect(labelStudio.handle(first)).rejects.toMatchObject({ retryable: true });
    expect(first.saved).toEqual([{ imported: 3 }]);
    const before = server.requests.length;
    await labelStudio.handle(context(5, { chunkSize: 3 }, 12, { checkpoint: first.saved.at(-1), attempt: 2 }));
    expect(server.requests.slice(before).every((r) => r.method === 'POST')).toBe(true);
    expect(tasksOf(5).map((t) => t.data.custom_id)).toEqual(['q-1', 'q-2', 'q-3', 'q-4', 'q-6', 'q-7', 'q-8', 'q-9', 'q-11', 'q-12']);
  });

  it('gives up at once on a wrong token or project, and retries a 429 after Retry-After', async () => {
    const wrongToken = createTestContext(labelStudio, {
      options: { projectId: 6, token: 'wrong' },
      deployment: { url: server.url },
      results: results(1),
    });
    await expect(labelStudio.handle(wrongToken)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('401') });
    await expect(labelStudio.handle(context(999))).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('404') });
    server.failRequest(1, { status: 429, headers: { 'retry-after': '3' } });
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
      expect(elsewhere.received.map((r) => r.headers.authorization)).toEqual([
        'Token their-own-token',
        'Token their-own-token',
        'Token their-own-token',
      ]);
      // The deployment's own URL, given again by the batch, keeps the deployment's token.
      await labelStudio.handle(context(7, { url: server.url }, 1));
      expect(server.requests.at(-1)?.headers.authorization).toBe(`Token ${server.token}`);
    } finally {
      await elsewhere.close();
    }
  });
});
