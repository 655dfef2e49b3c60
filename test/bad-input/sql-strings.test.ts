import { sql } from 'drizzle-orm';
import { toFile } from 'openai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker } from '../fleet/helpers.ts';
import { expectEachOnce, waitForStatus } from '../reliability/harness.ts';

/** Strings that mean something to SQL (or to a careless string builder); none holds a comma, so each can name a simulator model. */
const HOSTILE = [
  `'; drop table batches; --`,
  `$1`,
  `\\`,
  `"double" 'single' \`back\``,
  `); delete from requests where (true`,
  `$$ dollar $tag$`,
  `%_ like * ? :name`,
  `E'\\x00' \\0 \\u0000 spelled out`,
  `😀 é ☃ \u202e`,
];
const HOSTILE_MODEL = `m'; drop table requests; --`;
const NUL = 'nul\u0000inside';

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('SQL-meaningful strings in every text field', { timeout: 120_000 }, () => {
  const test = useTestDatabase();
  let app: ReturnType<typeof createApp>;
  let client: OpenAI;
  const processes: Running[] = [];
  /** The tables before the tests: every one is still there after them. */
  let before: string[] = [];
  beforeAll(async () => {
    const handlers = await loadHandlers({ env: { WEBHOOK_SECRET: 'deployment-secret-0123' } });
    app = createApp({ config: loadGatewayConfig({}), database: test().database, logger: createLogger({ level: 'silent' }), handlers });
    client = new OpenAI({
      apiKey: 'unused',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: (url, init) => Promise.resolve(app.fetch(new Request(url, init))),
    });
    // The hostile name first: vLLM answers every alias under its first served name
    // (entrypoints/openai/models/serving.py, model_name()), so each response body names it.
    const sim = await startSim(['--slots', '64', '--model', `${HOSTILE_MODEL},sim-model`]);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: test().url, ENGINE_URL: sim.url }));
    before = await tables();
  });
  afterAll(async () => {
    try {
      // Whatever the tests sent, every table is still there.
      if (before.length) expect(await tables()).toEqual(before);
    } finally {
      await Promise.all(processes.splice(0).map((p) => p.stop()));
      await app?.close();
    }
  });

  const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const gql = async (query: string, variables: Record<string, unknown> = {}) =>
    (await (await app.request('/graphql', json({ query, variables }))).json()) as {
      data?: Record<string, any> | null;
      errors?: { message: string; extensions?: { code?: string; param?: string } }[];
    };
  const line = (customId: string, model: string, content: string) =>
    JSON.stringify({
      custom_id: customId,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content }] },
    });

  /** The tables, and that each still answers a query. */
  const tables = async () => {
    const names = (
      await rows<{ name: string }>(
        test().database.db,
        sql`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`,
      )
    ).map((t) => t.name);
    for (const name of names) await test().database.db.execute(sql`select count(*) from ${sql.identifier(name)}`);
    return names;
  };

  it('round-trips them in custom_ids, model names, message content, filenames and metadata, through the queue, the worker and the result files', async () => {
    const ids = HOSTILE.map((s, i) => `${s} #${i}`);
    const text = ids.map((id, i) => line(id, i % 2 ? HOSTILE_MODEL : 'sim-model', HOSTILE[i]!)).join('\n');
    // No slash or backslash: the OpenAI SDK keeps only the last part of a path.
    const filename = `'; drop table files; -- $1 %_ $$.jsonl`;
    const file = await client.files.create({ file: await toFile(Buffer.from(text), filename), purpose: 'batch' });
    expect((await client.files.retrieve(file.id)).filename).toBe(filename);
    const metadata = Object.fromEntries(HOSTILE.map((s) => [s.slice(0, 64), s]));
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata,
    });
    expect(created.metadata).toEqual(metadata);

    const batch = await waitForStatus(client, created.id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    // Every line was answered, so each model name reached the engine intact (another name is a 404, and back to the queue).
    expect(output.map((l) => [l.custom_id, l.response?.body.model])).toEqual(ids.map((id) => [id, HOSTILE_MODEL]));
    expect((await client.batches.list()).data.find((b) => b.id === created.id)?.metadata).toEqual(metadata);

    const graphql = await gql('query ($id: ID!, $model: String) { batch(id: $id) { metadata } batches(model: $model) { nodes { id } } }', {
      id: created.id,
      model: HOSTILE_MODEL,
    });
    expect(graphql).toEqual({ data: { batch: { metadata }, batches: { nodes: [{ id: created.id }] } } });
    expect(
      (await gql('query ($model: String) { batches(model: $model) { nodes { id } } }', { model: `' or '1'='1` })).data?.batches.nodes,
    ).toEqual([]);
  });

  it('takes them in query parameters and ids as plain values: not found, or a 400 naming the parameter', async () => {
    for (const s of HOSTILE) {
      const encoded = encodeURIComponent(s);
      expect((await app.request(`/v1/files?purpose=${encoded}`)).status).toBe(200);
      expect(((await (await app.request(`/v1/files?purpose=${encoded}`)).json()) as { data: unknown[] }).data).toEqual([]);
      for (const [path, param] of [
        [`/v1/files?order=${encoded}`, 'order'],
        [`/v1/batches?limit=${encoded}`, 'limit'],
        [`/v1/batches?after=${encoded}`, 'after'],
      ] as const) {
        const res = await app.request(path);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { error: { param: string } }).error.param).toBe(param);
      }
      const batch = await app.request(`/v1/batches/${encoded}`);
      expect(batch.status).toBe(404);
      expect(((await batch.json()) as { error: { message: string } }).error.message).toBe(`No batch with id ${s}.`);
      expect((await app.request(`/v1/files/${encoded}/content`)).status).toBe(404);
      expect((await app.request(`/v1/batches/${encoded}/cancel`, { method: 'POST' })).status).toBe(404);
      expect(await gql('query ($id: ID!) { batch(id: $id) { id } file(id: $id) { id } }', { id: s })).toEqual({
        data: { batch: null, file: null },
      });
    }
  });

  it('keeps them in handler options and in the model registry exactly as given', async () => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(`${line('h1', 'no-worker-model', 'x')}\n`), 'h.jsonl'),
      purpose: 'batch',
    });
    const webhook = {
      url: `http://example.test/hook?q=%27;drop%20table%20batches;--&x=$1`,
      secret: `'; drop table batches; --$1\\`,
      headers: { 'x-note': HOSTILE[0]!, 'x-other': HOSTILE[3]! },
    };
    const res = await app.request(
      '/v1/batches',
      json({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', handlers: { webhook } }),
    );
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const [stored] = await rows<{ handlers: string }>(
      test().database.db,
      sql`select handlers::text as handlers from batches where id = ${id}`,
    );
    expect(JSON.parse(stored!.handlers).webhook).toMatchObject(webhook);

    const table = await app.request(
      '/v1/batches',
      json({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        handlers: { postgresInsert: { table: 'batch_results; drop table batches', url: 'postgres://x@127.0.0.1/y' } },
      }),
    );
    expect(table.status).toBe(400);
    expect(((await table.json()) as { error: { param: string; message: string } }).error).toMatchObject({
      param: 'handlers.postgresInsert.table',
      message: expect.stringContaining('expected a table name'),
    });

    const [name, source, ...args] = HOSTILE;
    const registered = await gql('mutation ($input: RegisterModelInput!) { registerModel(input: $input) { name source engineArgs } }', {
      input: { name, source, engineArgs: args },
    });
    expect(registered).toEqual({ data: { registerModel: { name, source, engineArgs: args } } });
    const updated = await gql('mutation ($name: String!) { updateModel(name: $name, input: { source: "$2" }) { name source } }', { name });
    expect(updated).toEqual({ data: { updateModel: { name, source: '$2' } } });
    expect((await gql('{ models { name } }')).data?.models).toContainEqual({ name });
    expect((await gql('mutation ($name: String!) { removeModel(name: $name) }', { name })).errors).toBeUndefined();
    expect((await gql('{ models { name } }')).data?.models).not.toContainEqual({ name });
  });

  it('refuses NUL where Postgres cannot store it with a 400 that says so, and keeps it inside request bodies', async () => {
    const text = [line('fine', 'sim-model', `a prompt with ${NUL}`), line(NUL, 'sim-model', 'x')].join('\n');
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'nul.jsonl'), purpose: 'batch' });
    const failed = await waitForStatus(
      client,
      (await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id,
      ['failed'],
    );
    expect(failed.errors?.data).toEqual([
      { line: 2, code: 'invalid_custom_id', param: 'custom_id', message: 'Line 2: custom_id must be a string without NUL characters.' },
    ]);

    const inBody = await client.files.create({
      file: await toFile(Buffer.from(line('fine', 'sim-model', `a prompt with ${NUL}`)), 'body.jsonl'),
      purpose: 'batch',
    });
    const done = await waitForStatus(
      client,
      (await client.batches.create({ input_file_id: inBody.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id,
      ['completed'],
    );
    await expectEachOnce(client, done, ['fine']);

    const metadata = await client.batches
      .create({ input_file_id: inBody.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { note: NUL } })
      .catch((e: unknown) => e);
    expect(metadata).toMatchObject({
      status: 400,
      param: 'metadata',
      error: { message: 'metadata keys and values cannot contain NUL characters (\\u0000)' },
    });

    const nulMessage =
      'A text value of the request contains a NUL character (\\u0000), which cannot be stored; remove it and send the request again.';
    const filename = await client.files
      .create({ file: await toFile(Buffer.from(line('a', 'sim-model', 'x')), `${NUL}.jsonl`), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(filename).toMatchObject({ status: 400, error: { message: nulMessage, type: 'invalid_request_error' } });
    for (const path of ['/v1/files?purpose=%00', '/v1/batches/batch_%00', '/v1/files/file-%00/content']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(nulMessage);
    }
    for (const [query, variables] of [
      ['query ($id: ID!) { batch(id: $id) { id } }', { id: NUL }],
      ['query ($model: String) { batches(model: $model) { nodes { id } } }', { model: NUL }],
      ['mutation ($input: RegisterModelInput!) { registerModel(input: $input) { name } }', { input: { name: NUL, source: 'x' } }],
    ] as const) {
      expect((await gql(query, variables)).errors?.[0]).toMatchObject({ message: nulMessage, extensions: { code: 'BAD_REQUEST' } });
    }
  });
});
