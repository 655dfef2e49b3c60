import { toFile } from 'openai';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { recordAnnotation, rows, type AnnotationPatch } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';
import { useApi } from './harness.ts';

interface Reply {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; param?: string } }[];
}

const ALICE = 'key-alice';
const BOB = 'key-bob';

type Message = { role: string; content: string };

const EXPORT = `mutation($input: ExportDatasetInput!) { exportDataset(input: $input) { id purpose filename lines bytes contentPath } }`;

describe('exportDataset', () => {
  const api = useApi({ API_KEYS: `${ALICE},${BOB}` });

  async function gql(key: string, query: string, variables: Record<string, unknown> = {}): Promise<Reply> {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as Reply;
  }

  /** Creates a batch from inline requests, validated, every line answered `answer to <custom_id>` (chat or completions shape). */
  async function batch(endpoint: string, requests: { customId: string; body: Record<string, unknown> }[], key = ALICE) {
    const created = await gql(key, 'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: { endpoint, requests },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data!.createBatch.id as string;
    await api().validated();
    await answer(id, endpoint);
    return id;
  }

  async function answer(id: string, endpoint: string) {
    const text = sql`to_json('answer to ' || r.custom_id)::text`;
    const response =
      endpoint === '/v1/chat/completions'
        ? sql`'{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":' || ${text} || '}}]}'`
        : endpoint === '/v1/responses'
          ? sql`'{"object":"response","status":"completed","output":[{"type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":' || ${text} || ',"annotations":[]}]}]}'`
          : sql`'{"object":"text_completion","choices":[{"index":0,"text":' || ${text} || '}]}'`;
    await answerLines(api().db.database.db, id, { status: 'succeeded', statusCode: 200, response });
  }

  const chat = (customId: string, messages: Message[]) => ({ customId, body: { model: 'sim-model', messages } });
  const ask = (customId: string) => chat(customId, [{ role: 'user', content: `question ${customId}` }]);

  async function annotate(batchId: string, customId: string, patch: AnnotationPatch) {
    const outcome = await recordAnnotation(api().db.database.db, {
      batchId,
      customId,
      owner: null,
      patch,
      annotator: 'reviewer@example.com',
      source: 'api',
      annotationHandlers: [],
    });
    expect(outcome.ok).toBe(true);
  }

  async function exportFile(input: Record<string, unknown>, key = ALICE) {
    const reply = await gql(key, EXPORT, { input });
    expect(reply.errors).toBeUndefined();
    return reply.data!.exportDataset as {
      id: string;
      purpose: string;
      filename: string;
      lines: number;
      bytes: number;
      contentPath: string;
    };
  }

  async function content(path: string, key = ALICE): Promise<string> {
    const res = await api().app.request(path, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    // A dataset is stored, like an upload: its size is known before it is sent.
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    return text;
  }

  const parsed = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, any>);

  /** A chat batch of three answered lines, a to c. */
  const reviewed = () => batch('/v1/chat/completions', [ask('a'), ask('b'), ask('c')]);

  it('exports only gold results by default, each as messages then the answer, the correction in its place', async () => {
    const created = await gql(ALICE, 'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: { endpoint: '/v1/chat/completions', requests: [ask('a'), ask('b'), ask('c'), ask('d')] },
    });
    const id = created.data!.createBatch.id as string;
    await api().validated();
    const { db } = api().db.database;
    await answerLines(db, id, { where: sql`r.custom_id = 'd'`, status: 'failed', statusCode: 500, response: '{"error":"boom"}' });
    await answer(id, '/v1/chat/completions');
    await annotate(id, 'a', { gold: true });
    await annotate(id, 'b', { gold: false, rating: 5 });
    await annotate(id, 'c', { gold: true, correction: 'the corrected answer' });
    await annotate(id, 'd', { gold: true });

    const file = await exportFile({ batchIds: [id], format: 'OPENAI_CHAT' });
    expect(file).toMatchObject({ purpose: 'fine-tune', lines: 2, contentPath: `/v1/files/${file.id}/content` });
    expect(file.filename).toMatch(/^dataset-\d{4}-\d{2}-\d{2}\.jsonl$/);
    const text = await content(file.contentPath);
    expect(Buffer.byteLength(text)).toBe(file.bytes);
    expect(parsed(text)).toEqual([
      {
        messages: [
          { role: 'user', content: 'question a' },
          { role: 'assistant', content: 'answer to a' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'question c' },
          { role: 'assistant', content: 'the corrected answer' },
        ],
      },
    ]);
  });

  it('filters by a minimum rating and by any of the labels, and takes unstarred results with goldOnly false', async () => {
    const id = await reviewed();
    await annotate(id, 'a', { rating: 5, labels: ['x'] });
    await annotate(id, 'b', { rating: 3, labels: ['y'] });
    await annotate(id, 'c', { rating: 4, labels: ['z', 'x'] });
    const answers = async (input: Record<string, unknown>) =>
      parsed(await content((await exportFile({ batchIds: [id], format: 'OPENAI_CHAT', ...input })).contentPath)).map(
        (line) => line.messages.at(-1).content,
      );
    expect(await answers({ goldOnly: false })).toEqual(['answer to a', 'answer to b', 'answer to c']);
    expect(await answers({ goldOnly: false, minRating: 4 })).toEqual(['answer to a', 'answer to c']);
    expect(await answers({ goldOnly: false, labels: ['y', 'z'] })).toEqual(['answer to b', 'answer to c']);
    expect(await answers({ goldOnly: false, minRating: 4, labels: ['y'] })).toEqual([]);
    expect(await answers({})).toEqual([]);
    const bad = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT', minRating: 6 } });
    expect(bad.errors?.[0]).toMatchObject({
      message: expect.stringContaining('1 to 5'),
      extensions: { code: 'BAD_REQUEST', param: 'minRating' },
    });
  });

  it('filters by the metadata handlers attached', async () => {
    const id = await reviewed();
    await api().db.database.db.execute(sql`insert into result_metadata (batch_id, line, metadata)
      select batch_id, line, case when custom_id = 'b' then '{"topic":"billing","lang":"en"}'::jsonb else '{"topic":"other"}'::jsonb end
      from requests where batch_id = ${id}`);
    const file = await exportFile({ batchIds: [id], format: 'OPENAI_CHAT', goldOnly: false, metadata: { topic: 'billing' } });
    expect(parsed(await content(file.contentPath)).map((l) => l.messages[0].content)).toEqual(['question b']);
    const bad = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT', metadata: 'billing' } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'metadata' });
  });

  it('writes prompt and completion pairs: a completions prompt as it is, chat messages rendered as text', async () => {
    const completions = await batch('/v1/completions', [{ customId: 'p', body: { model: 'sim-model', prompt: 'Once upon a time' } }]);
    const conversation = await batch('/v1/chat/completions', [
      chat('q', [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Capital of France?' },
      ]),
    ]);
    await annotate(completions, 'p', { gold: true });
    await annotate(conversation, 'q', { gold: true, correction: 'Paris.' });

    const pairs = await exportFile({ batchIds: [completions, conversation], format: 'PROMPT_COMPLETION' });
    expect(parsed(await content(pairs.contentPath))).toEqual([
      { prompt: 'Once upon a time', completion: 'answer to p' },
      { prompt: 'system: Be brief.\n\nuser: Capital of France?\n\nassistant: ', completion: 'Paris.' },
    ]);
    const chats = await exportFile({ batchIds: [completions], format: 'OPENAI_CHAT' });
    expect(parsed(await content(chats.contentPath))).toEqual([
      {
        messages: [
          { role: 'user', content: 'Once upon a time' },
          { role: 'assistant', content: 'answer to p' },
        ],
      },
    ]);
  });

  it('exports /v1/responses batches: instructions as the system message, the input as messages, the output text as the answer', async () => {
    const id = await batch('/v1/responses', [
      { customId: 'r1', body: { model: 'sim-model', instructions: 'Be brief.', input: 'Capital of France?' } },
      {
        customId: 'r2',
        body: {
          model: 'sim-model',
          input: [
            { role: 'user', content: 'Hi' },
            { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello.' }] },
            { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Name a colour.' }] },
          ],
        },
      },
      { customId: 'r3', body: { model: 'sim-model', input: [{ type: 'function_call_output', call_id: 'c1', output: '42' }] } },
    ]);
    await annotate(id, 'r1', { gold: true });
    await annotate(id, 'r2', { gold: true, correction: 'Blue.' });
    const chats = await exportFile({ batchIds: [id], format: 'OPENAI_CHAT' });
    expect(parsed(await content(chats.contentPath))).toEqual([
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Capital of France?' },
          { role: 'assistant', content: 'answer to r1' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello.' },
          { role: 'user', content: 'Name a colour.' },
          { role: 'assistant', content: 'Blue.' },
        ],
      },
    ]);
    const pairs = await exportFile({ batchIds: [id], format: 'PROMPT_COMPLETION' });
    expect(parsed(await content(pairs.contentPath))[1]).toEqual({
      prompt: 'user: Hi\n\nassistant: Hello.\n\nuser: Name a colour.\n\nassistant: ',
      completion: 'Blue.',
    });
    await annotate(id, 'r3', { gold: true });
    const refused = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT' } });
    expect(refused.errors?.[0]?.message).toContain(
      `Batch ${id}, custom_id r3 (line 3): body.input holds a function_call_output item, which no chat message can show`,
    );
  });

  it('lists the dataset with purpose fine-tune and serves it through /v1/files like any file', async () => {
    const id = await reviewed();
    await annotate(id, 'b', { gold: true });
    const file = await exportFile({ batchIds: [id], format: 'OPENAI_CHAT' });
    const client = api().client(ALICE);
    const listed = await client.files.list({ purpose: 'fine-tune' });
    expect(listed.data.map((f) => f.id)).toContain(file.id);
    expect(listed.data.every((f) => f.purpose === 'fine-tune')).toBe(true);
    expect((await client.files.list({ purpose: 'batch' })).data.map((f) => f.id)).not.toContain(file.id);
    expect(await client.files.retrieve(file.id)).toMatchObject({
      id: file.id,
      object: 'file',
      purpose: 'fine-tune',
      filename: file.filename,
      bytes: file.bytes,
      status: 'processed',
    });
    const text = await (await client.files.content(file.id)).text();
    expect(parsed(text)).toEqual([
      {
        messages: [
          { role: 'user', content: 'question b' },
          { role: 'assistant', content: 'answer to b' },
        ],
      },
    ]);
    // Another owner sees none of it.
    expect((await api().client(BOB).files.list({ purpose: 'fine-tune' })).data).toEqual([]);
  });

  it("refuses another owner's batch and an unknown one as NOT_FOUND, naming the batch", async () => {
    const id = await reviewed();
    const theirs = await gql(BOB, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT' } });
    expect(theirs.errors?.[0]).toMatchObject({
      message: `No batch with id ${id}.`,
      extensions: { code: 'NOT_FOUND', param: 'batchIds' },
    });
    const unknown = await gql(ALICE, EXPORT, { input: { batchIds: [id, 'batch_nope'], format: 'OPENAI_CHAT' } });
    expect(unknown.errors?.[0]).toMatchObject({ message: 'No batch with id batch_nope.', extensions: { code: 'NOT_FOUND' } });
    const none = await gql(ALICE, EXPORT, { input: { batchIds: [], format: 'OPENAI_CHAT' } });
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'batchIds' });
  });

  it('refuses a batch whose requests or answers were removed with its expired files, as CONFLICT naming it', async () => {
    const id = await reviewed();
    await annotate(id, 'a', { gold: true });
    const { db } = api().db.database;
    await db.execute(sql`update batches set results_purged_at = now() where id = ${id}`);
    const answers = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT' } });
    expect(answers.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`Batch ${id} can no longer be exported: its answers were removed`),
      extensions: { code: 'CONFLICT', param: 'batchIds' },
    });
    await db.execute(sql`update batches set bodies_purged_at = now() where id = ${id}`);
    const requests = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'OPENAI_CHAT' } });
    expect(requests.errors?.[0]?.message).toContain('its requests were removed when its input file expired');
  });

  it('refuses an embeddings batch, naming it and its endpoint', async () => {
    const created = await gql(ALICE, 'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: { endpoint: '/v1/embeddings', requests: [{ customId: 'e', body: { model: 'sim-embed', input: 'one' } }] },
    });
    const id = created.data!.createBatch.id as string;
    const reply = await gql(ALICE, EXPORT, { input: { batchIds: [id], format: 'PROMPT_COMPLETION' } });
    expect(reply.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`Batch ${id} is a /v1/embeddings batch`),
      extensions: { code: 'BAD_REQUEST', param: 'batchIds' },
    });
  });

  /** A chat batch of `n` lines uploaded as a file, each question about 200 bytes, every line answered. */
  async function bigBatch(n: number): Promise<string> {
    const padding = 'x'.repeat(180);
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'sim-model', messages: [{ role: 'user', content: `question ${i} ${padding}` }] },
      }),
    );
    const client = api().client(ALICE);
    const input = await client.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'big.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await api().validated();
    await answer(created.id, '/v1/chat/completions');
    return created.id;
  }

  it('streams a 3,000-line export into the stored chunks, every line in order', async () => {
    const id = await bigBatch(3000);
    const file = await exportFile({ batchIds: [id], format: 'OPENAI_CHAT', goldOnly: false });
    expect(file.lines).toBe(3000);
    const [stored] = await rows<{ chunks: number }>(
      api().db.database.db,
      sql`select count(*)::int as chunks from file_chunks where file_id = ${file.id}`,
    );
    expect(stored?.chunks).toBeGreaterThan(1);
    const lines = parsed(await content(file.contentPath));
    expect(lines).toHaveLength(3000);
    lines.forEach((line, i) => {
      expect(line.messages[0].content.startsWith(`question ${i} `)).toBe(true);
      expect(line.messages[1]).toEqual({ role: 'assistant', content: `answer to line-${i}` });
    });
  });

  it('leaves no file behind when an export fails midway, and names the line at fault', async () => {
    const big = await bigBatch(2000);
    const tokens = await batch('/v1/completions', [{ customId: 'ids', body: { model: 'sim-model', prompt: [1, 2, 3] } }]);
    const before = (await api().client(ALICE).files.list({ purpose: 'fine-tune' })).data.length;
    const reply = await gql(ALICE, EXPORT, { input: { batchIds: [big, tokens], format: 'PROMPT_COMPLETION', goldOnly: false } });
    expect(reply.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`Batch ${tokens}, custom_id ids (line 1): body.prompt is not one text prompt`),
      extensions: { code: 'BAD_REQUEST' },
    });
    expect((await api().client(ALICE).files.list({ purpose: 'fine-tune' })).data).toHaveLength(before);
    const left = await rows<{ id: string }>(
      api().db.database.db,
      sql`select f.id from files f where f.purpose = 'fine-tune' and f.status <> 'processed'
          union all select c.file_id from file_chunks c left join files f on f.id = c.file_id where f.id is null`,
    );
    expect(left).toEqual([]);
  });
});

describe.each(DRIVERS)('exportDataset on %s', (driver) => {
  const database = useDriverDatabase(driver);
  let app: ReturnType<typeof createApp>;
  beforeAll(() => {
    app = createApp({ config: loadGatewayConfig({}), database: database(), logger: createLogger({ level: 'silent' }) });
  });
  afterAll(() => app.close());

  const gql = async (query: string, variables: Record<string, unknown>) =>
    (await (
      await app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as Reply;

  it('filters by gold, rating, any of the labels and metadata together', async () => {
    const requests = ['a', 'b', 'c', 'd'].map((id) => ({ customId: id, body: { model: 'sim-model', prompt: `prompt ${id}` } }));
    const created = await gql('mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: { endpoint: '/v1/completions', requests },
    });
    const id = created.data!.createBatch.id as string;
    await app.validator.idle();
    const { db } = database();
    await answerLines(db, id, {
      status: 'succeeded',
      statusCode: 200,
      response: sql`'{"choices":[{"index":0,"text":' || to_json('answer ' || r.custom_id)::text || '}]}'`,
    });
    const patches: Record<string, AnnotationPatch> = {
      a: { gold: true, rating: 5, labels: ['x'] },
      b: { gold: true, rating: 5, labels: ['y'], correction: 'fixed b' },
      c: { gold: true, rating: 3, labels: ['x'] },
      d: { gold: false, rating: 5, labels: ['x'] },
    };
    for (const [customId, patch] of Object.entries(patches)) {
      const outcome = await recordAnnotation(db, {
        batchId: id,
        customId,
        owner: null,
        patch,
        annotator: 'r',
        source: 'api',
        annotationHandlers: [],
      });
      expect(outcome.ok).toBe(true);
    }
    await db.execute(sql`insert into result_metadata (batch_id, line, metadata)
      select batch_id, line, jsonb_build_object('keep', custom_id <> 'a') from requests where batch_id = ${id}`);
    const reply = await gql(EXPORT, {
      input: { batchIds: [id], format: 'PROMPT_COMPLETION', minRating: 4, labels: ['x', 'y', 'z'], metadata: { keep: true } },
    });
    expect(reply.errors).toBeUndefined();
    const text = await (await app.request(reply.data!.exportDataset.contentPath)).text();
    expect(text).toBe(`${JSON.stringify({ prompt: 'prompt b', completion: 'fixed b' })}\n`);
  });
});
