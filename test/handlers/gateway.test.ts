import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { BUILTIN_MANIFEST, loadHandlers } from '../../handlers/index.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { finishedBatch } from './support/batches.ts';

const test = useTestDatabase();
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  const handlers = await loadHandlers({ env: { WEBHOOK_SECRET: 'deployment-secret-0123' } });
  app = createApp({ config: loadGatewayConfig({}), database: test().database, logger: createLogger({ level: 'silent' }), handlers });
});
afterAll(() => app?.close());

async function graphql<T = any>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data: T; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const res = await app.request('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return res.json() as never;
}

async function uploadInput(): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'batch');
  const line = JSON.stringify({
    custom_id: 'a',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] },
  });
  form.set('file', new File([`${line}\n`], 'in.jsonl'));
  const res = await app.request('/v1/files', { method: 'POST', body: form });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

describe('result handlers in the gateway', () => {
  it('lists the installed handlers with their descriptions and manifest', async () => {
    const { data } = await graphql('{ handlers { name description manifest module events inputType optionsSchema } }');
    expect(data.handlers.map((h: { name: string }) => h.name)).toEqual(['webhook', 'labelStudio', 'postgresInsert']);
    expect(data.handlers[0]).toMatchObject({
      manifest: BUILTIN_MANIFEST,
      module: './webhook/index.ts',
      inputType: 'WebhookHandlerOptions',
    });
    expect(data.handlers[0].description).toContain('HMAC-SHA256');
    expect(data.handlers[1].events).toEqual(['completed', 'expired', 'cancelled']);
    expect(data.handlers[0].optionsSchema.required).toEqual(['url']);
  });

  it("describes each handler's options as a typed input under CreateBatchInput.handlers", async () => {
    const { data } = await graphql(`{
      create: __type(name: "CreateBatchInput") { inputFields { name type { name } } }
      handlers: __type(name: "BatchHandlersInput") { inputFields { name description type { name } } }
      webhook: __type(name: "WebhookHandlerOptions") { description inputFields { name description defaultValue type { kind name ofType { kind name ofType { name } } } } }
    }`);
    expect(data.create.inputFields).toContainEqual({ name: 'handlers', type: { name: 'BatchHandlersInput' } });
    expect(data.handlers.inputFields.map((f: { name: string; type: { name: string } }) => [f.name, f.type.name])).toEqual([
      ['labelStudio', 'LabelStudioHandlerOptions'],
      ['postgresInsert', 'PostgresInsertHandlerOptions'],
      ['webhook', 'WebhookHandlerOptions'],
    ]);
    const field = (name: string) => data.webhook.inputFields.find((f: { name: string }) => f.name === name);
    expect(field('url')).toMatchObject({
      description: 'Where to POST the batch.',
      type: { kind: 'NON_NULL', ofType: { kind: 'SCALAR', name: 'String' } },
    });
    expect(field('events')).toMatchObject({
      type: { kind: 'LIST', ofType: { kind: 'NON_NULL', ofType: { name: 'WebhookHandlerOptionsEvents' } } },
    });
    expect(field('timeoutSeconds')).toMatchObject({ defaultValue: '30', type: { kind: 'SCALAR', name: 'Int' } });
    expect(field('headers').type.name).toBe('JSON');
  });

  it('stores the validated options of a batch created through GraphQL', async () => {
    const inputFileId = await uploadInput();
    const { data, errors } = await graphql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }`, {
      input: {
        inputFileId,
        endpoint: '/v1/chat/completions',
        handlers: { webhook: { url: 'https://hooks.example.test/batch', events: ['completed'] } },
      },
    });
    expect(errors).toBeUndefined();
    const [stored] = await rows<{ handlers: string }>(
      test().database.db,
      sql`select handlers::text as handlers from batches where id = ${data.createBatch.id}`,
    );
    expect(JSON.parse(stored!.handlers)).toEqual({
      webhook: {
        url: 'https://hooks.example.test/batch',
        events: ['completed'],
        includeResults: false,
        maxInlineBytes: 262144,
        timeoutSeconds: 30,
      },
    });
  });

  it('refuses bad handler options through GraphQL, naming the handler and the option', async () => {
    const inputFileId = await uploadInput();
    const { errors } = await graphql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }`, {
      input: { inputFileId, endpoint: '/v1/chat/completions', handlers: { webhook: { url: 'not-a-url' } } },
    });
    expect(errors?.[0]?.message).toContain('handlers.webhook.url: expected a URL');
    expect(errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it('accepts handlers in the REST body and refuses bad ones with the option as param', async () => {
    const inputFileId = await uploadInput();
    const create = (handlers: unknown) =>
      app.request('/v1/batches', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', handlers }),
      });
    const bad = await create({ labelStudio: { projectId: 'seven' }, nosuch: {} });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { message: string; param: string; code: string } };
    expect(body.error.message).toContain('handlers.labelStudio.projectId: expected number');
    expect(body.error.message).toContain('handlers.nosuch: no handler named "nosuch" is installed');
    expect(body.error.param).toBe('handlers.labelStudio.projectId');
    const good = await create({ webhook: { url: 'https://hooks.example.test/x' } });
    expect(good.status).toBe(200);
  });

  it('refuses handler options that cannot be stored (NUL, an unpaired surrogate) with the option as param', async () => {
    const inputFileId = await uploadInput();
    for (const value of ['token\u0000', 'half \ud800 of a pair']) {
      const res = await app.request('/v1/batches', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          input_file_id: inputFileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          handlers: { webhook: { url: 'https://hooks.example.test/x', headers: { 'x-token': value } } },
        }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { param: 'handlers.webhook.headers.x-token', code: 'invalid_handler_options' } });
    }
  });

  it("shows a batch's handler runs and re-queues a dead one", async () => {
    const { database } = test();
    const batchId = await finishedBatch(database, { handlers: { webhook: { url: 'https://hooks.example.test/x' }, postgresInsert: {} } });
    await database.db.execute(
      sql`update handler_runs set status = 'dead', attempts = 5, last_error = 'receiver said 410', finished_at = now() where batch_id = ${batchId} and handler = 'webhook'`,
    );
    const query = `query($id: ID!) { batch(id: $id) { handlerRuns { id handler event status attempts lastError finishedAt } } }`;
    const { data } = await graphql(query, { id: batchId });
    expect(data.batch.handlerRuns.map((r: Record<string, unknown>) => [r.handler, r.event, r.status, r.attempts, r.lastError])).toEqual([
      ['postgresInsert', 'completed', 'queued', 0, null],
      ['webhook', 'completed', 'dead', 5, 'receiver said 410'],
    ]);
    const dead = data.batch.handlerRuns[1];
    const retried = await graphql(`mutation($id: ID!) { retryHandlerRun(id: $id) { id status attempts finishedAt nextAttemptAt } }`, {
      id: dead.id,
    });
    expect(retried.data.retryHandlerRun).toMatchObject({ id: dead.id, status: 'queued', attempts: 0, finishedAt: null });
    const again = await graphql(`mutation($id: ID!) { retryHandlerRun(id: $id) { id } }`, { id: dead.id });
    expect(again.errors?.[0]).toMatchObject({
      message: `Handler run ${dead.id} is queued; only a dead run can be retried.`,
      extensions: { code: 'CONFLICT' },
    });
    const missing = await graphql(`mutation { retryHandlerRun(id: "999999") { id } }`);
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it("refuses to re-queue a dead run whose batch's results were purged, saying why", async () => {
    const { database } = test();
    const batchId = await finishedBatch(database, { handlers: { webhook: { url: 'https://hooks.example.test/x' } } });
    await database.db.execute(sql`update handler_runs set status = 'dead', attempts = 5, finished_at = now() where batch_id = ${batchId}`);
    await database.db.execute(sql`update batches set results_purged_at = now() where id = ${batchId}`);
    const { data } = await graphql(`query($id: ID!) { batch(id: $id) { handlerRuns { id } } }`, { id: batchId });
    const runId = data.batch.handlerRuns[0].id;
    const retried = await graphql(`mutation($id: ID!) { retryHandlerRun(id: $id) { id status } }`, { id: runId });
    expect(retried.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', param: 'id' } });
    expect(retried.errors?.[0]?.message).toContain('output and error files expired or were deleted');
    const [run] = await rows<{ status: string }>(database.db, sql`select status from handler_runs where id = ${Number(runId)}`);
    expect(run?.status).toBe('dead');
  });

  it('gives each batch its own runs when several are asked for at once', async () => {
    const { database } = test();
    const ids = [
      await finishedBatch(database, { handlers: { webhook: { url: 'https://a.test' } } }),
      await finishedBatch(database, { handlers: { webhook: { url: 'https://b.test' } } }),
    ];
    const { data } = await graphql(
      `{ a: batch(id: "${ids[0]}") { handlerRuns { batchId } } b: batch(id: "${ids[1]}") { handlerRuns { batchId } } }`,
    );
    expect(data.a.handlerRuns).toEqual([{ batchId: ids[0] }]);
    expect(data.b.handlerRuns).toEqual([{ batchId: ids[1] }]);
  });
});
