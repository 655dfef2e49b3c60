import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import extractMetadata from '../../docs/examples/private-manifest/extract-metadata/index.ts';
import goldStarSync from '../../docs/examples/private-manifest/gold-star-sync/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/start.ts';
import { loadHandlers, splitManifestList } from '../../handlers/index.ts';
import { ANY_DESTINATION, createTestContext, type HandlerAnnotation, type HandlerResult } from '../../handlers/sdk/index.ts';
import { rows, settleBatch } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';
import { runsEnded } from './support/batches.ts';

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
    // The built-in Label Studio import waits for the metadata, so its tasks carry it.
    expect(registry.after.labelStudio).toEqual(['extractMetadata']);
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

describe('the gold-star flow end to end: gateway, handler runner, annotations, the private table', () => {
  const main = useTestDatabase();
  const privateDb = useTestDatabase();

  const INPUT = [
    ['ticket-1', 'My invoice shows the wrong amount.'],
    ['ticket-2', 'Classify: I want my money back.'],
    ['ticket-3', 'This one fails.'],
  ] as const;
  const ANSWERS: Record<string, string> = {
    'ticket-1': 'Topic: Billing\nThe invoice is corrected, and it is sent to you by the end of the day.',
    'ticket-2': '{"intent": "refund", "priority": 1}',
  };

  it('stars a result into the private table, and takes it out again when the star goes', async () => {
    const env = {
      DATABASE_URL: main().url,
      HANDLER_MANIFESTS: MANIFEST,
      GOLD_DATABASE_URL: privateDb().url,
      GOLD_TABLE: 'support_gold',
      LOG_LEVEL: 'silent',
    };
    const gateway = await startGateway(loadGatewayConfig(env));
    const registry = await loadHandlers({ manifests: splitManifestList(env.HANDLER_MANIFESTS), env });
    const runner = createHandlerRunner({
      database: gateway.database,
      registry,
      destinations: ANY_DESTINATION,
      logger: createLogger({ level: 'silent' }),
      pollIntervalMs: 50,
      backoff: { baseMs: 50, maxMs: 200 },
    });
    const graphql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      const res = await gateway.fetch(
        new Request('http://gateway.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, variables }),
        }),
      );
      const body = (await res.json()) as { data: T; errors?: unknown[] };
      expect(body.errors).toBeUndefined();
      return body.data;
    };
    const { db } = gateway.database;
    const privateRows = () =>
      rows<{
        custom_id: string;
        collection: string;
        prompt: unknown;
        answer: string;
        correction: string | null;
        rating: number | null;
        annotator: string;
        metadata: unknown;
      }>(
        privateDb().database.db,
        sql`select custom_id, collection, prompt, answer, correction, rating, annotator, metadata from support_gold order by custom_id`,
      );
    try {
      // The gateway offers both handlers, their options as GraphQL inputs.
      const offered = await graphql<{ handlers: unknown[] }>(`{ handlers { name events manifest } }`);
      expect(offered.handlers.slice(3)).toEqual([
        { name: 'extractMetadata', events: ['completed'], manifest: MANIFEST },
        { name: 'goldStarSync', events: ['result.annotated'], manifest: MANIFEST },
      ]);

      // 1. A batch that names both handlers.
      const form = new FormData();
      form.set('purpose', 'batch');
      const lines = INPUT.map(([customId, content]) =>
        JSON.stringify({
          custom_id: customId,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'sim-model', messages: [{ role: 'user', content }] },
        }),
      );
      form.set('file', new File([`${lines.join('\n')}\n`], 'tickets.jsonl'));
      const upload = await gateway.fetch(new Request('http://gateway.test/v1/files', { method: 'POST', body: form }));
      const inputFileId = ((await upload.json()) as { id: string }).id;
      const created = await graphql<{ createBatch: { id: string } }>(
        `mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }`,
        {
          input: {
            inputFileId,
            endpoint: '/v1/chat/completions',
            handlers: { extractMetadata: { topicPattern: '^Topic: (.+)$' }, goldStarSync: { collection: 'support-faq' } },
          },
        },
      );
      const batchId = created.createBatch.id;
      await gateway.validator.idle();

      // 2. It completes: two answers, one failure, as the fleet's writes leave them.
      for (const [customId, content] of Object.entries(ANSWERS)) {
        const response = JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content } }] });
        await answerLines(db, batchId, { where: sql`r.custom_id = ${customId}`, status: 'succeeded', statusCode: 200, response });
      }
      await answerLines(db, batchId, {
        where: sql`r.custom_id = 'ticket-3'`,
        status: 'failed',
        error: { code: 'engine_error', message: 'the engine failed' },
      });
      await settleBatch(db, batchId);
      runner.start();
      const ended = await runsEnded(gateway.database, batchId);
      expect(ended.find((r) => r.handler === 'extractMetadata')).toMatchObject({
        event: 'completed',
        status: 'succeeded',
        result: { results: 3, attached: 2, resumedAfter: 0 },
      });

      // 3. The metadata is on the results.
      const listed = await graphql<{ batch: { results: { edges: { node: unknown }[] } } }>(
        `query($id: ID!) { batch(id: $id) { results(first: 10) { edges { node { customId status metadata } } } } }`,
        { id: batchId },
      );
      const ticket1 = { format: 'text', words: 18, language: 'en', topic: 'Billing' };
      const ticket2 = { format: 'json', words: 1, fields: { intent: 'refund', priority: 1 } };
      expect(listed.batch.results.edges.map((e) => e.node)).toEqual([
        { customId: 'ticket-1', status: 'succeeded', metadata: ticket1 },
        { customId: 'ticket-2', status: 'succeeded', metadata: ticket2 },
        { customId: 'ticket-3', status: 'failed', metadata: null },
      ]);

      // 4. Reviewers star two results: each appears in the private table.
      const annotate = async (customId: string, patch: Record<string, unknown>) => {
        const changed = await graphql<{ annotateResult: unknown }>(
          `mutation($input: AnnotateResultInput!) { annotateResult(input: $input) { customId annotation { gold rating annotator } } }`,
          { input: { batchId, customId, ...patch } },
        );
        expect(changed.annotateResult).toMatchObject({ customId, annotation: { annotator: 'local' } });
        const runs = await runsEnded(gateway.database, batchId);
        return runs
          .filter((r) => r.event === 'result.annotated')
          .sort((a, b) => a.id - b.id)
          .map((r) => [r.status, (r.result as { outcome?: string } | null)?.outcome]);
      };
      await annotate('ticket-1', { gold: true, rating: 5, correction: 'The invoice is corrected today.' });
      await annotate('ticket-2', { gold: true });
      expect(await privateRows()).toEqual([
        {
          custom_id: 'ticket-1',
          collection: 'support-faq',
          prompt: [{ role: 'user', content: 'My invoice shows the wrong amount.' }],
          answer: ANSWERS['ticket-1'],
          correction: 'The invoice is corrected today.',
          rating: 5,
          annotator: 'local',
          metadata: ticket1,
        },
        {
          custom_id: 'ticket-2',
          collection: 'support-faq',
          prompt: [{ role: 'user', content: 'Classify: I want my money back.' }],
          answer: ANSWERS['ticket-2'],
          correction: null,
          rating: null,
          annotator: 'local',
          metadata: ticket2,
        },
      ]);

      // 5. A rating change updates the row; the star taken away removes it.
      await annotate('ticket-2', { rating: 4 });
      expect((await privateRows()).map((r) => [r.custom_id, r.rating])).toEqual([
        ['ticket-1', 5],
        ['ticket-2', 4],
      ]);
      expect(await annotate('ticket-1', { gold: false })).toEqual([
        ['succeeded', 'starred'],
        ['succeeded', 'starred'],
        ['succeeded', 'starred'],
        ['succeeded', 'unstarred'],
      ]);
      expect((await privateRows()).map((r) => r.custom_id)).toEqual(['ticket-2']);
    } finally {
      await runner.stop();
      await gateway.close();
    }
  });
});
