import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  countResults,
  createBatch,
  ingestBatch,
  newId,
  readResultsPage,
  recordAnnotation,
  rows,
  setResultMetadata,
  type Database,
  type RecordAnnotationInput,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';

const PROMPTS = ['What is the capital of France?', 'Name a prime number', 'Translate "Hallo" to English', 'Count to three'];

/** A chat batch of `alice` with one line per prompt, lines 1 and 2 answered (2 failed), 3 answered, 4 pending. */
async function batchWithResults(database: Database, { owner = 'alice', handlers = {} as Record<string, unknown> } = {}) {
  const id = newId('batch_');
  await createBatch(database.db, {
    id,
    owner,
    endpoint: '/v1/chat/completions',
    inputFileId: newId('file-'),
    completionWindow: '24h',
    completionWindowSeconds: 86_400,
    metadata: null,
    priority: 0,
    handlers,
    validationOwner: 'v1',
    validationLeaseSeconds: 60,
  });
  const requests = PROMPTS.map((content, i) => ({
    line: i + 1,
    customId: `c${i + 1}`,
    model: 'm1',
    body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content }] }),
  }));
  await ingestBatch(database, { batchId: id, validationOwner: 'v1', priority: 0 }, async function* () {
    yield requests;
  });
  const answer = (text: string) => JSON.stringify({ choices: [{ message: { role: 'assistant', content: text } }] });
  await answerLines(database.db, id, {
    where: sql`r.line = 1`,
    status: 'succeeded',
    statusCode: 200,
    response: answer('Paris is the capital.'),
    promptTokens: 10,
    completionTokens: 5,
  });
  await answerLines(database.db, id, { where: sql`r.line = 2`, status: 'failed', error: { code: 'engine_error', message: 'boom' } });
  await answerLines(database.db, id, { where: sql`r.line = 3`, status: 'succeeded', statusCode: 200, response: answer('Hello') });
  return id;
}

const annotate = (database: Database, batchId: string, patch: RecordAnnotationInput['patch'], more: Partial<RecordAnnotationInput> = {}) =>
  recordAnnotation(database.db, {
    batchId,
    customId: 'c1',
    owner: 'alice',
    patch,
    annotator: 'alice',
    source: 'api',
    annotationHandlers: [],
    ...more,
  });

const runsOf = (database: Database, batchId: string) =>
  rows<{ handler: string; event: string; line: number; seq: number; annotation: Record<string, unknown> }>(
    database.db,
    sql`select handler, event, line, annotation_seq::float8 as seq, annotation from handler_runs
        where batch_id = ${batchId} and annotation_seq is not null order by annotation_seq, handler`,
  );

describe.each(DRIVERS)('annotations and result pages on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('keeps the fields a change leaves out and clears those it sets to null', async () => {
    const batchId = await batchWithResults(database());
    const first = await annotate(database(), batchId, { gold: true, rating: 4, labels: ['geo'], note: 'fine' });
    expect(first).toMatchObject({ ok: true, changed: true, annotation: { gold: true, rating: 4, labels: ['geo'], note: 'fine', line: 1 } });
    const second = await annotate(database(), batchId, { rating: null, correction: 'Paris.' }, { annotator: 'bob', source: 'dashboard' });
    expect(second).toMatchObject({
      ok: true,
      changed: true,
      annotation: { gold: true, rating: null, correction: 'Paris.', labels: ['geo'], note: 'fine', annotator: 'bob', source: 'dashboard' },
    });
  });

  it('creates no run and keeps the sequence when a change changes nothing', async () => {
    const batchId = await batchWithResults(database(), { handlers: { sync: {} } });
    const first = await annotate(database(), batchId, { gold: true }, { annotationHandlers: ['sync'] });
    const again = await annotate(database(), batchId, { gold: true }, { annotationHandlers: ['sync'] });
    if (!first.ok || !again.ok) throw new Error('expected both changes to be recorded');
    expect(again).toMatchObject({ changed: false, runs: 0 });
    expect(again.annotation?.seq).toBe(first.annotation?.seq);
    expect(await runsOf(database(), batchId)).toHaveLength(1);
  });

  it('records nothing for a first change that sets nothing: no annotation, no run', async () => {
    const batchId = await batchWithResults(database(), { handlers: { sync: {} } });
    const outcome = await annotate(database(), batchId, { gold: null, note: null }, { annotationHandlers: ['sync'] });
    expect(outcome).toMatchObject({ ok: true, changed: false, runs: 0, annotation: null, line: 1 });
    expect(await runsOf(database(), batchId)).toHaveLength(0);
  });

  // PGlite has one connection: its changes never overlap. Postgres's pool runs each pair at once.
  it.skipIf(driver === 'pglite')(
    'makes two first changes of one result at once one after the other: neither loses the other, seq in commit order',
    async () => {
      // Twenty pairs of first changes, each pair at once on its own connections: without the lock
      // on the request's row, some pair's second upsert overwrote the first's field with null.
      for (let round = 0; round < 20; round++) {
        const batchId = await batchWithResults(database(), { handlers: { sync: {} } });
        const [a, b] = await Promise.all([
          annotate(database(), batchId, { gold: true }, { annotationHandlers: ['sync'] }),
          annotate(database(), batchId, { rating: 4 }, { annotationHandlers: ['sync'] }),
        ]);
        if (!a.ok || !b.ok || !a.annotation || !b.annotation) throw new Error('expected both changes to be recorded');
        const last = a.annotation.seq > b.annotation.seq ? a.annotation : b.annotation;
        expect(last).toMatchObject({ gold: true, rating: 4 });
        expect(await runsOf(database(), batchId)).toHaveLength(2);
      }
    },
  );

  it('queues runs only for the annotation handlers the batch named, in increasing sequence', async () => {
    const batchId = await batchWithResults(database(), { handlers: { sync: {}, webhook: {} } });
    const one = await annotate(database(), batchId, { gold: true }, { annotationHandlers: ['sync', 'other'] });
    const two = await annotate(database(), batchId, { gold: false }, { annotationHandlers: ['sync', 'other'] });
    expect(one).toMatchObject({ runs: 1 });
    expect(two).toMatchObject({ runs: 1 });
    const runs = await runsOf(database(), batchId);
    expect(runs.map((r) => [r.handler, r.event, r.line])).toEqual([
      ['sync', 'result.annotated', 1],
      ['sync', 'result.annotated', 1],
    ]);
    expect(runs[1]!.seq).toBeGreaterThan(runs[0]!.seq);
    expect(runs.map((r) => r.annotation.gold)).toEqual([true, false]);
  });

  it("refuses another owner's batch, an unknown custom_id and a line without a result", async () => {
    const batchId = await batchWithResults(database());
    expect(await annotate(database(), batchId, { gold: true }, { owner: 'mallory' })).toEqual({ ok: false, reason: 'not_found' });
    expect(await annotate(database(), batchId, { gold: true }, { customId: 'nope' })).toEqual({ ok: false, reason: 'not_found' });
    expect(await annotate(database(), batchId, { gold: true }, { customId: 'c4' })).toEqual({ ok: false, reason: 'no_result' });
  });

  it('reads a page of lines with requests, results, metadata and annotations, pending lines included', async () => {
    const batchId = await batchWithResults(database());
    await annotate(database(), batchId, { gold: true, rating: 5, labels: ['geo'] });
    await setResultMetadata(database().db, { batchId, customId: 'c1', metadata: { topic: 'geography' } });
    const page = await readResultsPage(database().db, batchId, {}, 0, 10);
    expect(page.map((r) => [r.line, r.customId, r.status])).toEqual([
      [1, 'c1', 'succeeded'],
      [2, 'c2', 'failed'],
      [3, 'c3', 'succeeded'],
      [4, 'c4', 'pending'],
    ]);
    expect(JSON.parse(page[0]!.body).messages[0].content).toBe(PROMPTS[0]);
    expect(page[0]).toMatchObject({
      promptTokens: 10,
      completionTokens: 5,
      metadata: { topic: 'geography' },
      annotation: { gold: true, rating: 5, labels: ['geo'], annotator: 'alice', source: 'api' },
    });
    expect(page[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(page[1]).toMatchObject({ error: { code: 'engine_error', message: 'boom' }, response: null, annotation: null });
    expect(page[3]).toMatchObject({ response: null, durationMs: null, metadata: null });
    expect((await readResultsPage(database().db, batchId, {}, 2, 1)).map((r) => r.line)).toEqual([3]);
  });

  it('filters by status, gold, annotated, rating, label and text, and counts what the filter keeps', async () => {
    const batchId = await batchWithResults(database());
    await annotate(database(), batchId, { gold: true, rating: 5, labels: ['geo', 'short'] });
    await annotate(database(), batchId, { rating: 2, correction: 'Hello there, friend' }, { customId: 'c3' });
    await annotate(database(), batchId, { gold: true }, { customId: 'c2' });
    await annotate(database(), batchId, { gold: null }, { customId: 'c2' });
    const lines = async (filter: Parameters<typeof readResultsPage>[2]) => {
      const found = (await readResultsPage(database().db, batchId, filter, 0, 10)).map((r) => r.line);
      expect(await countResults(database().db, batchId, filter)).toBe(found.length);
      return found;
    };
    expect(await lines({ status: ['pending'] })).toEqual([4]);
    expect(await lines({ status: ['failed', 'pending'] })).toEqual([2, 4]);
    expect(await lines({ gold: true })).toEqual([1]);
    expect(await lines({ gold: false })).toEqual([2, 3, 4]);
    // Line 2's annotation was cleared: its row is kept, but it counts as not annotated.
    expect(await lines({ annotated: true })).toEqual([1, 3]);
    expect(await lines({ annotated: false })).toEqual([2, 4]);
    expect(await lines({ minRating: 3 })).toEqual([1]);
    expect(await lines({ label: 'short' })).toEqual([1]);
    expect(await lines({ label: 'sho' })).toEqual([]);
    expect(await lines({ search: 'PRIME' })).toEqual([2]);
    expect(await lines({ search: 'paris' })).toEqual([1]);
    expect(await lines({ search: 'friend' })).toEqual([3]);
    expect(await lines({ search: '%' })).toEqual([]);
    expect(await lines({ status: ['succeeded'], minRating: 1, search: 'hello' })).toEqual([3]);
  });
});
