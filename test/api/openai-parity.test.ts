import { sql } from 'drizzle-orm';
import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import type { BatchValidator } from '../../gateway/batches/batch-validator.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { retentionSeconds } from '../../gateway/files/expires-after.ts';
import { rows, settleBatch } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';
import { fixture, useApi } from './harness.ts';

const KEYS = ['key-purpose', 'key-request-id', 'key-priority', 'key-expiry', 'key-output-expiry', 'key-sweep'];
const embeddings = fixture('embeddings-50.jsonl');

/** What the official SDKs trip on where this server differed from OpenAI (issue 16); each test has a key (an owner) of its own. */
describe('parity with OpenAI where its SDKs notice', () => {
  const api = useApi({ API_KEYS: KEYS.join(',') });
  const db = () => api().db.database.db;

  const upload = async (client: OpenAI, expires_after?: { anchor: 'created_at'; seconds: number }) =>
    client.files.create({ file: await toFile(embeddings, 'emb.jsonl'), purpose: 'batch', ...(expires_after ? { expires_after } : {}) });

  /** A validated batch ended as completed: even lines succeeded, odd lines failed with a 400 from the engine. */
  async function finishedBatch(client: OpenAI, extra: { output_expires_after?: { anchor: 'created_at'; seconds: number } } = {}) {
    const file = await upload(client);
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h', ...extra });
    await api().validated();
    await answerLines(db(), created.id, {
      where: sql`r.line % 2 = 0`,
      status: 'succeeded',
      statusCode: 200,
      response: '{"object":"list","data":[]}',
    });
    await answerLines(db(), created.id, {
      where: sql`r.line % 2 = 1`,
      status: 'failed',
      statusCode: 400,
      response: '{"error":{"message":"bad input"}}',
    });
    await settleBatch(db(), created.id);
    return client.batches.retrieve(created.id);
  }

  const badRequest = async (promise: Promise<unknown>) => {
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    return (error as InstanceType<typeof OpenAI.BadRequestError>).error as { message: string; param: string | null };
  };

  it('gives error files the purpose batch_output, so that listing batch_output files finds them', async () => {
    const client = api().client('key-purpose');
    const done = await finishedBatch(client);
    const errorFile = await client.files.retrieve(done.error_file_id!);
    expect(errorFile.purpose).toBe('batch_output');
    const listed = await client.files.list({ purpose: 'batch_output' });
    expect(listed.data.map((f) => f.id).sort()).toEqual([done.output_file_id!, done.error_file_id!].sort());
    // Still the error file: its lines are the failed requests.
    const content = await (await client.files.content(done.error_file_id!)).text();
    expect(JSON.parse(content.split('\n')[0]!)).toMatchObject({ custom_id: 'emb-000', response: { status_code: 400 } });
  });

  it('answers every response with x-request-id, keeps a sane client id and replaces any other', async () => {
    const client = api().client('key-request-id');
    const created = await upload(client);
    expect(created._request_id).toMatch(/^req_[0-9a-f]{32}$/);
    const call = (path: string, init: RequestInit = {}) =>
      Promise.resolve(api().app.fetch(new Request(`http://gateway.test${path}`, init)));
    const auth = { authorization: 'Bearer key-request-id' };
    for (const [path, init, status] of [
      ['/health', {}, 200],
      ['/v1/files', { headers: auth }, 200],
      ['/v1/files/file-none', { headers: auth }, 404],
      ['/v1/batches', { method: 'POST', headers: auth, body: 'not json' }, 400],
      ['/v1/files', {}, 401],
      [
        '/graphql',
        { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"query":"{ models { name } }"}' },
        200,
      ],
    ] as const) {
      const response = await call(path, init);
      expect([path, response.status]).toEqual([path, status]);
      expect([path, response.headers.get('x-request-id')]).toEqual([path, expect.stringMatching(/^req_[0-9a-f]{32}$/)]);
    }
    const own = await call('/v1/files', { headers: { ...auth, 'x-request-id': 'trace-1234.abc:9' } });
    expect(own.headers.get('x-request-id')).toBe('trace-1234.abc:9');
    for (const bad of ['has space', 'x'.repeat(201), 'line\u00e9', '']) {
      const replaced = await call('/v1/files', { headers: { ...auth, 'x-request-id': bad } });
      expect(replaced.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    }
  });

  it('says the range of priority when it is out of it, and what to do', async () => {
    const client = api().client('key-priority');
    const file = await upload(client);
    const create = (priority: unknown) =>
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/embeddings',
        completion_window: '24h',
        priority,
      } as OpenAI.BatchCreateParams);
    const error = await badRequest(create(5000));
    expect(error).toMatchObject({
      param: 'priority',
      message: 'priority must be an integer from -1000 to 1000 (higher runs first; leave it out for the default, 0); got 5000',
    });
    expect((await badRequest(create(1.5))).message).toContain('from -1000 to 1000');
    expect((await badRequest(create('high'))).message).toContain('from -1000 to 1000');
    expect(((await create(-1000)) as OpenAI.Batch & { priority: number }).priority).toBe(-1000);
  });

  it('lets an uploaded file expire after expires_after, then answers 404 for it as for a deleted file', async () => {
    const client = api().client('key-expiry');
    const file = await upload(client, { anchor: 'created_at', seconds: 3600 });
    expect(file.expires_at! - file.created_at).toBe(3600);
    expect((await client.files.retrieve(file.id)).expires_at).toBe(file.expires_at);
    const forever = await upload(client);
    expect(forever).not.toHaveProperty('expires_at');
    for (const [expires_after, param, words] of [
      [{ anchor: 'created_at', seconds: 60 }, 'expires_after.seconds', 'from 3600 (1 hour) to 2592000 (30 days); got "60"'],
      [{ anchor: 'created_at', seconds: 2_592_001 }, 'expires_after.seconds', 'from 3600 (1 hour) to 2592000 (30 days)'],
      [{ anchor: 'last_active_at', seconds: 3600 }, 'expires_after.anchor', 'must be "created_at"'],
    ] as const) {
      const error = await badRequest(upload(client, expires_after as { anchor: 'created_at'; seconds: number }));
      expect(error.param).toBe(param);
      expect(error.message).toContain(words);
    }
    await db().execute(sql`update files set expires_at = now() - interval '1 second' where id = ${file.id}`);
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.delete(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await client.files.list()).data.map((f) => f.id)).toEqual([forever.id]);
    const batch = client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await expect(batch).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('gives the output and error files of a batch expires_at from output_expires_after, anchored at their creation', async () => {
    const client = api().client('key-output-expiry');
    const done = await finishedBatch(client, { output_expires_after: { anchor: 'created_at', seconds: 7200 } });
    for (const id of [done.output_file_id!, done.error_file_id!]) {
      const file = await client.files.retrieve(id);
      expect(file.expires_at! - file.created_at).toBe(7200);
    }
    const input = await client.files.retrieve(done.input_file_id);
    expect(input).not.toHaveProperty('expires_at');
    const error = await badRequest(
      client.batches.create({
        input_file_id: done.input_file_id,
        endpoint: '/v1/embeddings',
        completion_window: '24h',
        output_expires_after: { anchor: 'created_at', seconds: 100 },
      }),
    );
    expect(error).toMatchObject({
      param: 'output_expires_after.seconds',
      message: expect.stringContaining('from 3600 (1 hour) to 2592000 (30 days)'),
    });
  });

  it('sweeps expired files: their bytes, then request bodies and results no file refers to, and a retry says why it cannot be', async () => {
    const client = api().client('key-sweep');
    const done = await finishedBatch(client, { output_expires_after: { anchor: 'created_at', seconds: 3600 } });
    const kept = await finishedBatch(client);
    const stored = async (batchId: string) =>
      (
        await rows<{ bodies: number; results: number }>(
          db(),
          sql`select (select count(*) from requests where batch_id = ${batchId} and body <> '')::int as bodies,
                (select count(*) from results where batch_id = ${batchId} and response is not null)::int as results`,
        )
      )[0];
    const chunks = async (fileId: string) =>
      (await rows<{ n: number }>(db(), sql`select count(*)::int as n from file_chunks where file_id = ${fileId}`))[0]?.n;
    expect(await chunks(done.input_file_id)).toBeGreaterThan(0);

    // The output and error files expire: results go, bodies stay while the input file is there.
    await db().execute(
      sql`update files set expires_at = now() - interval '1 second' where id in (${done.output_file_id!}, ${done.error_file_id!})`,
    );
    await api().app.validator.sweep();
    expect(await stored(done.id)).toEqual({ bodies: 50, results: 0 });
    await expect(client.files.content(done.output_file_id!)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    // The input file expires too: its bytes and the bodies go, and a retry cannot send them again.
    await db().execute(sql`update files set expires_at = now() - interval '1 second' where id = ${done.input_file_id}`);
    await api().app.validator.sweep();
    expect(await chunks(done.input_file_id)).toBe(0);
    expect(await stored(done.id)).toEqual({ bodies: 0, results: 0 });
    const [row] = await rows<{ status: string }>(db(), sql`select status from files where id = ${done.input_file_id}`);
    expect(row?.status).toBe('expired');
    expect((await client.batches.retrieve(done.id)).request_counts).toEqual({ total: 50, completed: 25, failed: 25 });
    const gql = await api().app.fetch(
      new Request('http://gateway.test/graphql', {
        method: 'POST',
        headers: { authorization: 'Bearer key-sweep', 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($id: ID!) { retryBatch(id: $id) { id } }', variables: { id: done.id } }),
      }),
    );
    const retried = (await gql.json()) as { errors?: { message: string; extensions: { code: string } }[] };
    expect(retried.errors?.[0]).toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: expect.stringContaining('its input file expired or was deleted'),
    });

    // A batch whose files are all still there keeps everything.
    expect(await stored(kept.id)).toEqual({ bodies: 50, results: 50 });
  });
});

describe('a deployment default of FILE_RETENTION_DAYS', () => {
  const api = useApi({ FILE_RETENTION_DAYS: '7' });

  it('makes files expire after that many days unless the caller says otherwise', async () => {
    const client = api().client();
    const file = await client.files.create({ file: await toFile(embeddings, 'emb.jsonl'), purpose: 'batch' });
    expect(file.expires_at! - file.created_at).toBe(7 * 86_400);
    const own = await client.files.create({
      file: await toFile(embeddings, 'emb.jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(own.expires_at! - own.created_at).toBe(3600);
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const [row] = await rows<{ seconds: number }>(
      api().db.database.db,
      sql`select output_expires_after as seconds from batches where id = ${batch.id}`,
    );
    expect(row?.seconds).toBe(7 * 86_400);
    await api().validated();
  });

  it('is a whole number of days, or the gateway does not start', () => {
    for (const bad of ['0', '-1', '1.5', 'week'])
      expect(() => loadGatewayConfig({ FILE_RETENTION_DAYS: bad })).toThrow(/FILE_RETENTION_DAYS: expected a whole number of days/);
  });

  it('is at most 24855 days, whose seconds still fit the integer column, or the gateway does not start', async () => {
    expect(() => loadGatewayConfig({ FILE_RETENTION_DAYS: '24856' })).toThrow(/FILE_RETENTION_DAYS: expected at most 24855 days/);
    const days = loadGatewayConfig({ FILE_RETENTION_DAYS: '24855' }).FILE_RETENTION_DAYS;
    const [row] = await rows<{ seconds: number }>(api().db.database.db, sql`select ${retentionSeconds(days)}::int as seconds`);
    expect(row?.seconds).toBe(24_855 * 86_400);
  });

  it('gives a GraphQL upload expiresAt, from expiresAfterSeconds or the retention', async () => {
    const upload = async (args: string) => {
      const form = new FormData();
      form.append(
        'operations',
        JSON.stringify({
          query: `mutation($file: Upload!) { uploadFile(file: $file${args}) { kind createdAt expiresAt } }`,
          variables: { file: null },
        }),
      );
      form.append('map', JSON.stringify({ 0: ['variables.file'] }));
      form.append('0', new Blob([embeddings]), 'emb.jsonl');
      const reply = await api().app.fetch(new Request('http://localhost/graphql', { method: 'POST', body: form }));
      return (await reply.json()) as {
        data?: { uploadFile: { kind: string; createdAt: string; expiresAt: string } };
        errors?: { message: string; extensions: Record<string, unknown> }[];
      };
    };
    const lifetime = (file: { createdAt: string; expiresAt: string }) => (Date.parse(file.expiresAt) - Date.parse(file.createdAt)) / 1000;
    const own = await upload(', expiresAfterSeconds: 3600');
    expect(own.data?.uploadFile.kind).toBe('input');
    expect(lifetime(own.data!.uploadFile)).toBe(3600);
    expect(lifetime((await upload('')).data!.uploadFile)).toBe(7 * 86_400);
    const bad = await upload(', expiresAfterSeconds: 10');
    expect(bad.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_REQUEST', param: 'expiresAfter.seconds' },
      message: expect.stringContaining('from 3600 (1 hour) to 2592000 (30 days)'),
    });
  });
});

describe('the request id in the log', () => {
  const test = useTestDatabase();

  it('is on the lines a request writes, REST and GraphQL, as http_request_id', async () => {
    const lines: Record<string, unknown>[] = [];
    const failing = new Error('validator exploded');
    const validator: BatchValidator = {
      id: 'test-validator',
      validate: () => {
        throw failing;
      },
      sweep: async () => {},
      startSweeping: () => {},
      idle: async () => {},
      close: async () => {},
    };
    const app = createApp({
      config: loadGatewayConfig({}),
      database: test().database,
      logger: createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
      validator,
    });
    try {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([embeddings]), 'emb.jsonl');
      const file = (await (await app.fetch(new Request('http://localhost/v1/files', { method: 'POST', body: form }))).json()) as {
        id: string;
      };
      const rest = await app.fetch(
        new Request('http://localhost/v1/batches', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': 'rest-call-1' },
          body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
        }),
      );
      expect(rest.status).toBe(500);
      expect(rest.headers.get('x-request-id')).toBe('rest-call-1');
      const graphql = await app.fetch(
        new Request('http://localhost/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': 'graphql-call-1' },
          body: JSON.stringify({
            query: `mutation { createBatch(input: { inputFileId: "${file.id}", endpoint: "/v1/embeddings" }) { id } }`,
          }),
        }),
      );
      expect(graphql.headers.get('x-request-id')).toBe('graphql-call-1');
      const errors = lines.filter((l) => (l.err as { message?: string } | undefined)?.message === 'validator exploded');
      expect(errors.map((l) => [l.msg, l.http_request_id])).toEqual([
        ['unexpected error', 'rest-call-1'],
        ['unexpected error in a GraphQL resolver', 'graphql-call-1'],
      ]);
    } finally {
      await app.close();
    }
  });
});
