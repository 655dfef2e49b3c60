import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, TOPICS, type EventBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { ownerOfKey } from '../../gateway/auth.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { defineHandler, z } from '../../handlers/sdk/index.ts';
import { HANDLER_RUNS_CHANNEL, rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { registryOf } from '../handlers/support/registry.ts';
import { chatBatch, gql as post, type Reply } from './result-batches.ts';

const ALICE = 'key-alice';
const BOB = 'key-bob';

/** Runs on annotation changes (and at batch end). */
const goldSync = defineHandler({
  name: 'goldSync',
  description: 'Copies starred results elsewhere.',
  options: z.object({ table: z.string().default('gold') }),
  events: ['completed', 'result.annotated'],
  handle: async () => undefined,
});

/** Runs only when the batch ends (the default events). */
const notifier = defineHandler({
  name: 'notifier',
  description: 'Says that a batch ended.',
  options: z.object({ channel: z.string().default('ops') }),
  handle: async () => undefined,
});

/** Runs on annotation changes only when a batch asks it to: its events depend on the batch's options, as the webhook's do. */
const pager = defineHandler({
  name: 'pager',
  description: 'Pages someone about a batch, and about its reviews when asked.',
  options: z.object({ reviews: z.boolean().default(false) }),
  events: (options) => (options.reviews ? ['completed', 'result.annotated'] : ['completed']),
  handle: async () => undefined,
});

const ANNOTATE = `mutation($input: AnnotateResultInput!) { annotateResult(input: $input) {
  line customId status response annotation { gold rating correction labels note annotator source updatedAt } } }`;

async function nextData(reader: ReadableStreamDefaultReader<Uint8Array>, seen: { text: string }): Promise<Reply> {
  for (;;) {
    const match = /data: (\{.*\})\n\n/.exec(seen.text);
    if (match) {
      seen.text = seen.text.slice((match.index ?? 0) + match[0].length);
      return JSON.parse(match[1]!) as Reply;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended; got ${seen.text}`);
    seen.text += new TextDecoder().decode(value);
  }
}

describe('annotateResult and resultAnnotations through the gateway', () => {
  const test = useTestDatabase();
  let app: ReturnType<typeof createApp> | undefined;
  /** Topics the gateway subscribed to, so a test knows when a subscription is live. */
  const subscribed: string[] = [];
  /** Set to make the gateway's bus refuse to publish (as a Redis that went away would). */
  let busDown = false;

  beforeAll(() => {
    const inner = createMemoryBus();
    const bus: EventBus = {
      publish: (topic, event) => (busDown ? Promise.reject(new Error('bus down')) : inner.publish(topic, event)),
      subscribe: async (topic, listener) => {
        const stop = await inner.subscribe(topic, listener);
        subscribed.push(topic);
        return stop;
      },
      close: () => inner.close(),
    };
    app = createApp({
      config: loadGatewayConfig({ API_KEYS: `${ALICE},${BOB}` }),
      database: test().database,
      logger: createLogger({ level: 'silent' }),
      bus,
      handlers: registryOf([goldSync], [notifier], [pager]),
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  const api = () => {
    if (!app) throw new Error('the app is created in beforeAll');
    return { app, db: test(), validated: () => app!.validator.idle() };
  };
  const gql = (query: string, variables: Record<string, unknown>, key = ALICE) => post(api(), query, variables, key);
  const annotate = (input: Record<string, unknown>, key = ALICE) => gql(ANNOTATE, { input }, key);

  it("records the change as the key's owner, from where and when; left-out fields stay, null clears", async () => {
    const batchId = await chatBatch(api(), { key: ALICE, prompts: ['2+2?'], answers: { 1: 'Five' } });
    const first = await annotate({
      batchId,
      customId: 'c1',
      gold: true,
      rating: 2,
      labels: ['math'],
      correction: 'Four',
      source: 'dashboard',
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.annotateResult).toMatchObject({
      line: 1,
      customId: 'c1',
      status: 'succeeded',
      response: { choices: [{ message: { content: 'Five' } }] },
      annotation: {
        gold: true,
        rating: 2,
        labels: ['math'],
        correction: 'Four',
        note: null,
        annotator: await ownerOfKey(ALICE),
        source: 'dashboard',
      },
    });
    expect(Math.abs(Date.now() - Date.parse(first.data?.annotateResult.annotation.updatedAt))).toBeLessThan(60_000);

    const second = await annotate({ batchId, customId: 'c1', rating: null, note: 'checked' });
    expect(second.data?.annotateResult.annotation).toMatchObject({
      gold: true,
      rating: null,
      labels: ['math'],
      correction: 'Four',
      note: 'checked',
      source: 'api',
    });
    const read = await gql('query($id: ID!) { batch(id: $id) { results { edges { node { annotation { rating note } } } } } }', {
      id: batchId,
    });
    expect(read.data?.batch.results.edges[0].node.annotation).toEqual({ rating: null, note: 'checked' });
  });

  it('sends each change to resultAnnotations subscribers of the batch, and only to its owner', async () => {
    const batchId = await chatBatch(api(), { key: ALICE, prompts: ['one', 'two'], answers: { 1: 'uno', 2: 'dos' } });
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${ALICE}` },
      body: JSON.stringify({
        query: 'subscription($id: ID!) { resultAnnotations(batchId: $id) { line customId response annotation { gold rating source } } }',
        variables: { id: batchId },
      }),
    });
    const reader = res.body!.getReader();
    const seen = { text: '' };
    const first = nextData(reader, seen);
    while (!subscribed.includes(TOPICS.annotations(batchId))) await new Promise((r) => setTimeout(r, 5));

    await annotate({ batchId, customId: 'c2', gold: true });
    expect(await first).toEqual({
      data: {
        resultAnnotations: {
          line: 2,
          customId: 'c2',
          response: expect.any(Object),
          annotation: { gold: true, rating: null, source: 'api' },
        },
      },
    });
    // A change that changes nothing is not announced: the next event is the rating.
    await annotate({ batchId, customId: 'c2', gold: true });
    await annotate({ batchId, customId: 'c1', rating: 4 });
    expect((await nextData(reader, seen)).data?.resultAnnotations).toMatchObject({ line: 1, annotation: { gold: null, rating: 4 } });
    await reader.cancel();

    const bob = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${BOB}` },
      body: JSON.stringify({ query: 'subscription($id: ID!) { resultAnnotations(batchId: $id) { line } }', variables: { id: batchId } }),
    });
    const refused = await nextData(bob.body!.getReader(), { text: '' });
    expect(refused.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`No batch with id ${batchId}`),
      extensions: { code: 'NOT_FOUND' },
    });
  });

  it("queues a run for the batch's handlers that run on result.annotated and wakes the handler runner", async () => {
    const batchId = await chatBatch(api(), {
      key: ALICE,
      prompts: ['star me'],
      answers: { 1: 'ok' },
      handlers: { goldSync: { table: 'stars' }, notifier: { channel: 'ops' } },
    });
    const woken: string[] = [];
    const unlisten = await test().database.listen(HANDLER_RUNS_CHANNEL, (payload) => woken.push(payload));
    try {
      expect((await annotate({ batchId, customId: 'c1', gold: true })).errors).toBeUndefined();
      const runs = await rows<{ handler: string; event: string; line: number; gold: boolean }>(
        test().database.db,
        sql`select handler, event, line, (annotation->>'gold')::boolean as gold from handler_runs where batch_id = ${batchId}`,
      );
      expect(runs).toEqual([{ handler: 'goldSync', event: 'result.annotated', line: 1, gold: true }]);
      const deadline = Date.now() + 5_000;
      while (woken.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(woken.length).toBeGreaterThan(0);
    } finally {
      await unlisten();
    }
  });

  it("asks a handler whose events depend on the batch's options: a run per change only for the batch that wants them", async () => {
    const batchOf = (reviews: boolean) =>
      chatBatch(api(), { key: ALICE, prompts: ['page me'], answers: { 1: 'ok' }, handlers: { pager: { reviews } } });
    const [quiet, loud] = [await batchOf(false), await batchOf(true)];
    for (const batchId of [quiet, loud]) expect((await annotate({ batchId, customId: 'c1', gold: true })).errors).toBeUndefined();
    const runs = await rows<{ batchId: string; handler: string }>(
      test().database.db,
      sql`select batch_id as "batchId", handler from handler_runs where batch_id in (${quiet}, ${loud}) and event = 'result.annotated'`,
    );
    expect(runs).toEqual([{ batchId: loud, handler: 'pager' }]);
  });

  it('keeps a recorded change when the event bus cannot announce it', async () => {
    const batchId = await chatBatch(api(), { key: ALICE, prompts: ['q'], answers: { 1: 'a' } });
    busDown = true;
    try {
      const reply = await annotate({ batchId, customId: 'c1', gold: true });
      expect(reply.errors).toBeUndefined();
      expect(reply.data?.annotateResult.annotation.gold).toBe(true);
    } finally {
      busDown = false;
    }
    const read = await gql('query($id: ID!) { batch(id: $id) { results(filter: { gold: true }) { totalCount } } }', { id: batchId });
    expect(read.data?.batch.results.totalCount).toBe(1);
  });

  it('refuses bad fields, unknown and foreign results, and lines without a result, saying what to do', async () => {
    const batchId = await chatBatch(api(), { key: ALICE, prompts: ['a', 'b', 'c'], answers: { 1: 'A' }, failed: [2] });
    const error = async (input: Record<string, unknown>, key = ALICE) => {
      const reply = await annotate({ batchId, customId: 'c1', ...input }, key);
      expect(reply.data).toBeNull();
      return reply.errors?.[0];
    };
    expect(await error({ rating: 6 })).toMatchObject({
      message: expect.stringContaining('rating must be an integer from 1 to 5'),
      extensions: { code: 'BAD_REQUEST', param: 'rating' },
    });
    expect(await error({ labels: ['ok', ' '] })).toMatchObject({
      message: expect.stringContaining('labels[1] is empty'),
      extensions: { param: 'labels[1]' },
    });
    expect(await error({ labels: Array.from({ length: 51 }, (_, i) => `l${i}`) })).toMatchObject({ extensions: { param: 'labels' } });
    expect(await error({ correction: 'x'.repeat(100_001) })).toMatchObject({
      message: expect.stringContaining('at most 100000'),
      extensions: { param: 'correction' },
    });
    expect(await error({ correction: '  ' })).toMatchObject({
      message: expect.stringContaining('correction is empty; send the corrected answer, or null'),
      extensions: { param: 'correction' },
    });
    expect(await error({ note: 'x'.repeat(10_001) })).toMatchObject({ extensions: { code: 'BAD_REQUEST', param: 'note' } });
    expect(await error({ customId: '' })).toMatchObject({ extensions: { param: 'customId' } });
    expect(await error({ source: 'label_studio' })).toMatchObject({
      message: expect.stringContaining('use api or dashboard'),
      extensions: { param: 'source' },
    });
    expect(await error({ customId: 'c9', gold: true })).toMatchObject({
      message: `batch ${batchId} has no request with custom_id "c9"; check the batch id and custom_id`,
      extensions: { code: 'NOT_FOUND' },
    });
    expect(await error({ gold: true }, BOB)).toMatchObject({
      message: expect.stringContaining(`batch ${batchId}`),
      extensions: { code: 'NOT_FOUND' },
    });
    expect(await error({ customId: 'c3', gold: true })).toMatchObject({
      message: 'line 3 (custom_id "c3") has no result yet; annotate it once it finished',
      extensions: { code: 'CONFLICT' },
    });
    // A failed line has a result, and may be annotated (e.g. labelled as a bad prompt).
    expect((await annotate({ batchId, customId: 'c2', labels: ['bad prompt'] })).errors).toBeUndefined();
    const rows = await gql('query($id: ID!) { batch(id: $id) { results(filter: { annotated: true }) { totalCount } } }', { id: batchId });
    expect(rows.data?.batch.results.totalCount).toBe(1);
  });
});
