import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import extractMetadata from '../../docs/examples/private-manifest/extract-metadata/index.ts';
import goldStarSync from '../../docs/examples/private-manifest/gold-star-sync/index.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { createTestContext, type HandlerAnnotation, type HandlerResult } from '../../handlers/sdk/index.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';

const MANIFEST = fileURLToPath(new URL('../../docs/examples/private-manifest/manifest.json', import.meta.url));

/** A chat result answered with `content`, or failed when `content` is null. */
function chatResult(customId: string, content: string | null, metadata: Record<string, unknown> | null = null): HandlerResult {
  const request = { model: 'sim-model', messages: [{ role: 'user', content: `question ${customId}` }] };
  if (content === null)
    return {
      id: `batch_req_${customId}`,
      custom_id: customId,
      response: null,
      error: { code: 'engine_error', message: 'failed' },
      request,
      metadata,
    };
  return {
    id: `batch_req_${customId}`,
    custom_id: customId,
    response: {
      status_code: 200,
      request_id: `req_${customId}`,
      body: { choices: [{ index: 0, message: { role: 'assistant', content } }] },
    },
    error: null,
    request,
    metadata,
  };
}

describe("the private example's manifest", () => {
  it('loads both handlers with their deployment options from the environment', async () => {
    const registry = await loadHandlers({ manifests: [MANIFEST], env: { GOLD_DATABASE_URL: 'postgres://gold@db.acme.test/private' } });
    expect(registry.handlers.map((h) => h.name)).toEqual(['webhook', 'labelStudio', 'postgresInsert', 'extractMetadata', 'goldStarSync']);
    expect(registry.get('goldStarSync')?.deployment).toEqual({
      databaseUrl: 'postgres://gold@db.acme.test/private',
      table: 'gold_examples',
    });
    expect(registry.events('extractMetadata', {})).toEqual(['completed']);
    expect(registry.events('goldStarSync', {})).toEqual(['result.annotated']);
  });

  it('stops start-up naming the deployment option when the private database URL is not one', async () => {
    await expect(loadHandlers({ manifests: [MANIFEST], env: { GOLD_DATABASE_URL: 'https://db.acme.test' } })).rejects.toThrow(
      'options.databaseUrl: expected a Postgres URL (postgres://...)',
    );
  });

  it("refuses a batch's options that do not validate, naming each", async () => {
    const registry = await loadHandlers({ manifests: [MANIFEST], env: { GOLD_DATABASE_URL: 'postgres://gold@db.acme.test/private' } });
    expect(() =>
      registry.parseBatchHandlers({ extractMetadata: { topicPattern: 'Topic: (' }, goldStarSync: { collection: 'faq examples' } }),
    ).toThrow(
      'handlers.extractMetadata.topicPattern: expected a JavaScript regular expression, such as ^Topic: (.+)$; handlers.goldStarSync.collection: expected a collection name (letters, digits, _ . -), such as support-faq',
    );
  });
});

describe('extractMetadata', () => {
  const results = () => [
    chatResult(
      'json',
      '```json\n{"intent": "refund", "priority": 2, "urgent": true, "reply": "We will refund the order and you will get the money in a week", "tags": ["x"]}\n```',
    ),
    chatResult('prose', 'Topic: Billing\nThe invoice is sent to you at the end of the month, and it is paid by card.'),
    chatResult('german', 'Die Rechnung ist nicht bezahlt, und sie wird mit der Post an Sie geschickt.'),
    chatResult('failed', null),
  ];

  it('attaches what each answer holds to its result, and nothing to a failed one', async () => {
    const context = createTestContext(extractMetadata, { options: { topicPattern: '^topic:\\s*(.+)$' }, results });
    expect(await extractMetadata.handle(context)).toEqual({ results: 4, attached: 3, resumedAfter: 0 });
    expect(Object.fromEntries(context.metadata)).toEqual({
      json: {
        format: 'json',
        words: 16,
        language: 'en',
        fields: { intent: 'refund', priority: 2, urgent: true, reply: 'We will refund the order and you will get the money in a week' },
      },
      prose: { format: 'text', words: 20, language: 'en', topic: 'Billing' },
      german: { format: 'text', words: 14, language: 'de' },
    });
  });

  it('copies only the named fields of a JSON answer', async () => {
    const context = createTestContext(extractMetadata, { options: { jsonFields: ['intent', 'tags', 'missing'] }, results });
    await extractMetadata.handle(context);
    expect(context.metadata.get('json')?.fields).toEqual({ intent: 'refund', tags: ['x'] });
  });

  it('resumes after the results its checkpoint counts instead of reading them all again', async () => {
    const many = () => Array.from({ length: 450 }, (_, i) => chatResult(`r${i + 1}`, `answer number ${i + 1}`));
    const first = createTestContext(extractMetadata, { results: many });
    await extractMetadata.handle(first);
    expect(first.saved).toEqual([{ done: 200 }, { done: 400 }]);

    const retry = createTestContext(extractMetadata, { results: many, attempt: 2, checkpoint: { done: 400 } });
    expect(await extractMetadata.handle(retry)).toEqual({ results: 450, attached: 50, resumedAfter: 400 });
    expect([...retry.metadata.keys()]).toEqual(Array.from({ length: 50 }, (_, i) => `r${i + 401}`));
  });
});

describe('goldStarSync against a table of a real Postgres database', () => {
  const privateDb = useTestDatabase();
  let tables = 0;

  /** Runs the handler for one annotation change, as the runner would for the change numbered `seq`. */
  async function sync(table: string, seq: number, change: Partial<HandlerAnnotation>, result = chatResult('req-1', 'The answer.')) {
    const annotation: HandlerAnnotation = {
      batchId: 'batch_gold',
      customId: result.custom_id,
      line: 1,
      gold: null,
      rating: null,
      correction: null,
      labels: null,
      note: null,
      annotator: 'ana',
      source: 'api',
      updatedAt: new Date(1_800_000_000_000 + seq * 1000).toISOString(),
      ...change,
    };
    const context = createTestContext(goldStarSync, {
      deployment: { databaseUrl: privateDb().url, table },
      options: { collection: 'support-faq' },
      batch: { id: 'batch_gold' },
      annotation,
      result,
    });
    return goldStarSync.handle({ ...context, runId: `batch_gold:goldStarSync:annotation:${seq}` });
  }
  const tableRows = (table: string) =>
    rows<Record<string, unknown>>(
      privateDb().database.db,
      sql`select custom_id, collection, model, prompt, answer, correction, rating, labels, note, annotator, metadata,
                 to_char(annotated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as annotated_at
          from ${sql.identifier(table)} order by custom_id`,
    );
  const newTable = () => `gold_examples_${++tables}`;

  it('writes a starred result with its prompt, answer, correction, rating, annotator and metadata', async () => {
    const table = newTable();
    const result = chatResult('req-1', 'Paris is the capital of Franse.', { language: 'en', words: 6 });
    expect(await sync(table, 3, { gold: true, rating: 5, correction: 'Paris is the capital of France.', labels: ['geo'] }, result)).toEqual(
      {
        outcome: 'starred',
        customId: 'req-1',
        table,
      },
    );
    expect(await tableRows(table)).toEqual([
      {
        custom_id: 'req-1',
        collection: 'support-faq',
        model: 'sim-model',
        prompt: [{ role: 'user', content: 'question req-1' }],
        answer: 'Paris is the capital of Franse.',
        correction: 'Paris is the capital of France.',
        rating: 5,
        labels: ['geo'],
        note: null,
        annotator: 'ana',
        metadata: { language: 'en', words: 6 },
        annotated_at: '2027-01-15T08:00:03Z',
      },
    ]);
  });

  it('updates the row on a later change and removes it when the star is taken away; a re-run changes nothing', async () => {
    const table = newTable();
    await sync(table, 1, { gold: true, rating: 4 });
    await sync(table, 2, { gold: true, rating: 2, annotator: 'bo' });
    expect(await tableRows(table)).toMatchObject([{ custom_id: 'req-1', rating: 2, annotator: 'bo' }]);
    await sync(table, 2, { gold: true, rating: 2, annotator: 'bo' });
    expect(await tableRows(table)).toMatchObject([{ custom_id: 'req-1', rating: 2, annotator: 'bo' }]);

    expect(await sync(table, 3, { gold: false, rating: 2 })).toMatchObject({ outcome: 'unstarred' });
    expect(await tableRows(table)).toEqual([]);
    expect(await sync(table, 3, { gold: false, rating: 2 })).toMatchObject({ outcome: 'unstarred' });
    expect(await tableRows(table)).toEqual([]);
    // A cleared star (gold null) is no star either.
    await sync(table, 4, { gold: true });
    await sync(table, 5, { gold: null });
    expect(await tableRows(table)).toEqual([]);
  });

  it('leaves a newer change in place when an older one runs late', async () => {
    const table = newTable();
    await sync(table, 7, { gold: false });
    expect(await sync(table, 6, { gold: true, rating: 5 })).toMatchObject({ outcome: 'stale' });
    expect(await tableRows(table)).toEqual([]);

    await sync(table, 9, { gold: true, rating: 3 });
    expect(await sync(table, 8, { gold: true, rating: 1 })).toMatchObject({ outcome: 'stale' });
    expect(await tableRows(table)).toMatchObject([{ rating: 3 }]);
  });

  it('keeps the results of other batches and custom_ids apart', async () => {
    const table = newTable();
    await sync(table, 1, { gold: true }, chatResult('req-1', 'one'));
    await sync(table, 2, { gold: true }, chatResult('req-2', 'two'));
    await sync(table, 3, { gold: false }, chatResult('req-1', 'one'));
    expect(await tableRows(table)).toMatchObject([{ custom_id: 'req-2', answer: 'two' }]);
  });
});
