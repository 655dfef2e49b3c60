import { describe, expect, it } from 'vitest';
import { setResultMetadata } from '../../schema/index.ts';
import { useApi } from './harness.ts';
import { chatBatch, gql } from './result-batches.ts';

const ALICE = 'key-alice';
const BOB = 'key-bob';

const PAGE = `query($id: ID!, $first: Int, $after: String, $filter: ResultFilter) {
  batch(id: $id) { results(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { line customId status } }
  } } }`;

describe('Batch.results', () => {
  const api = useApi({ API_KEYS: `${ALICE},${BOB}` });

  const page = async (id: string, args: { first?: number; after?: string | null; filter?: Record<string, unknown> } = {}, key = ALICE) =>
    gql(api(), PAGE, { id, ...args }, key);
  const linesOf = async (id: string, filter: Record<string, unknown>) => {
    const reply = await page(id, { filter, first: 500 });
    expect(reply.errors).toBeUndefined();
    const { edges, totalCount } = reply.data!.batch.results;
    expect(totalCount).toBe(edges.length);
    return edges.map((e: { node: { line: number } }) => e.node.line);
  };
  const annotate = async (batchId: string, customId: string, fields: Record<string, unknown>) => {
    const reply = await gql(
      api(),
      'mutation($input: AnnotateResultInput!) { annotateResult(input: $input) { line } }',
      { input: { batchId, customId, ...fields } },
      ALICE,
    );
    expect(reply.errors).toBeUndefined();
  };

  it('pages through every line in line order by cursor, pending lines included, with a total', async () => {
    const prompts = Array.from({ length: 7 }, (_, i) => `question ${i + 1}`);
    const id = await chatBatch(api(), { key: ALICE, prompts, answers: { 1: 'a', 2: 'b', 5: 'e' }, failed: [3] });
    const seen: [number, string, string][] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const reply = await page(id, { first: 3, after });
      expect(reply.errors).toBeUndefined();
      const { edges, pageInfo, totalCount } = reply.data!.batch.results;
      expect(totalCount).toBe(7);
      seen.push(
        ...edges.map((e: { node: { line: number; customId: string; status: string } }) => [e.node.line, e.node.customId, e.node.status]),
      );
      expect(pageInfo.endCursor).toBe(edges.at(-1).cursor);
      pages++;
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([
      [1, 'c1', 'succeeded'],
      [2, 'c2', 'succeeded'],
      [3, 'c3', 'failed'],
      [4, 'c4', 'pending'],
      [5, 'c5', 'succeeded'],
      [6, 'c6', 'pending'],
      [7, 'c7', 'pending'],
    ]);
    // An edge's cursor continues right after it.
    const first = await page(id, { first: 2 });
    const fromEdge = await page(id, { first: 1, after: first.data!.batch.results.edges[0].cursor });
    expect(fromEdge.data!.batch.results.edges[0].node.line).toBe(2);
  });

  it('shows the request, the response, tokens, error, duration, metadata and annotation of each line', async () => {
    const id = await chatBatch(api(), { key: ALICE, prompts: ['What is 2+2?', 'Say hi', 'Later'], answers: { 1: 'Four.' }, failed: [2] });
    await setResultMetadata(api().db.database.db, { batchId: id, customId: 'c1', metadata: { topic: 'math', words: 1 } });
    await annotate(id, 'c1', { gold: true, rating: 5, labels: ['math'], correction: '4', note: 'ok' });
    const reply = await gql(
      api(),
      `query($id: ID!) { batch(id: $id) { results { edges { node {
        line customId status request response error { code message } tokens { prompt completion total } durationMs metadata
        annotation { gold rating correction labels note annotator source updatedAt }
      } } } } }`,
      { id },
      ALICE,
    );
    expect(reply.errors).toBeUndefined();
    const [one, two, three] = reply.data!.batch.results.edges.map((e: { node: unknown }) => e.node);
    expect(one).toMatchObject({
      status: 'succeeded',
      request: { model: 'sim-model', messages: [{ role: 'user', content: 'What is 2+2?' }] },
      response: { choices: [{ message: { content: 'Four.' } }] },
      error: null,
      tokens: { prompt: 12, completion: 3, total: 15 },
      metadata: { topic: 'math', words: 1 },
      annotation: { gold: true, rating: 5, labels: ['math'], correction: '4', note: 'ok', source: 'api' },
    });
    expect(one.durationMs).toBeGreaterThanOrEqual(0);
    expect(one.annotation.annotator).toMatch(/^key_[0-9a-f]{16}$/);
    expect(Date.now() - Date.parse(one.annotation.updatedAt)).toBeLessThan(60_000);
    expect(two).toMatchObject({
      status: 'failed',
      response: null,
      error: { code: 'engine_error', message: 'the engine crashed' },
      annotation: null,
    });
    expect(three).toMatchObject({ status: 'pending', response: null, tokens: null, durationMs: null, metadata: null, annotation: null });
  });

  it('filters by status, gold, annotated, rating, label and text', async () => {
    const id = await chatBatch(api(), {
      key: ALICE,
      prompts: ['Capital of France?', 'A prime number?', 'Largest ocean?', 'Not run yet'],
      answers: { 1: 'Paris', 2: 'Seven', 3: 'The Pacific' },
    });
    await annotate(id, 'c1', { gold: true, rating: 5, labels: ['geography'] });
    await annotate(id, 'c2', { rating: 2, correction: 'Eleven is prime too' });
    await annotate(id, 'c3', { labels: ['geography', 'water'] });
    expect(await linesOf(id, { status: ['pending'] })).toEqual([4]);
    expect(await linesOf(id, { status: ['succeeded'] })).toEqual([1, 2, 3]);
    expect(await linesOf(id, { gold: true })).toEqual([1]);
    expect(await linesOf(id, { annotated: true })).toEqual([1, 2, 3]);
    expect(await linesOf(id, { annotated: false })).toEqual([4]);
    expect(await linesOf(id, { minRating: 3 })).toEqual([1]);
    expect(await linesOf(id, { label: 'geography' })).toEqual([1, 3]);
    expect(await linesOf(id, { label: 'water', gold: true })).toEqual([]);
    expect(await linesOf(id, { search: 'OCEAN' })).toEqual([3]);
    expect(await linesOf(id, { search: 'paris' })).toEqual([1]);
    expect(await linesOf(id, { search: 'eleven' })).toEqual([2]);
  });

  it("hides another key's batch and refuses bad page arguments, naming them", async () => {
    const id = await chatBatch(api(), { key: ALICE, prompts: ['mine'], answers: { 1: 'yes' } });
    expect((await page(id, {}, BOB)).data).toEqual({ batch: null });
    const tooMany = await page(id, { first: 501 });
    expect(tooMany.errors?.[0]).toMatchObject({
      message: expect.stringContaining('first must be from 1 to 500'),
      extensions: { code: 'BAD_REQUEST' },
    });
    const badCursor = await page(id, { after: 'line 3' });
    expect(badCursor.errors?.[0]).toMatchObject({
      message: expect.stringContaining('after must be a cursor'),
      extensions: { code: 'BAD_REQUEST' },
    });
    const badRating = await page(id, { filter: { minRating: 9 } });
    expect(badRating.errors?.[0]?.message).toContain('filter.minRating must be from 1 to 5');
  });
});
