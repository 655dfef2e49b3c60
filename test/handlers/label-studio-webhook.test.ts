import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createMemoryBus, TOPICS, type BusEvent } from '../../core/events/index.ts';
import { createApp } from '../../gateway/app.ts';
import { ownerOfKey } from '../../gateway/auth.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import labelStudio, { GOLD_CHOICE } from '../../handlers/label-studio/index.ts';
import { createTestContext, type HandlerResult } from '../../handlers/sdk/index.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { finishedBatch } from './support/batches.ts';
import { startLabelStudioStandin, type LabelStudioStandin, type ResultItem } from './support/label-studio-standin.ts';

// The gateway's Label Studio webhook, driven by a stand-in that posts Label Studio's webhook
// payloads as its source builds them (label_studio/webhooks/utils.py at d1329c38c64a837cfc965e6f4a58e7a7077d0d49,
// models.py at 155880a814788fc76cc6971ddb6fbe96bdba2369, serializers_for_hooks.py at
// 087bcd8a8dde1193f1e35b84f78e439632bfa0b4; see support/label-studio-standin.ts).

const SECRET = 'ls-webhook-secret-0123456789';
const API_KEY = 'sk-owner-key';
const PROJECT = 1;
const test = useTestDatabase();
const bus = createMemoryBus();
let app: ReturnType<typeof createApp>;
let server: Server;
let gateway: string;
let ls: LabelStudioStandin;
let batchId: string;

/** The batch's results as the handler runner hands them to a handler (with their requests). */
async function handlerResults(id: string): Promise<HandlerResult[]> {
  const found = await rows<{
    line: number;
    customId: string;
    body: string;
    response: string | null;
    statusCode: number | null;
    error: HandlerResult['error'];
  }>(
    test().database.db,
    sql`select r.line, r.custom_id as "customId", r.body, x.response, x.status_code as "statusCode", x.error
        from requests r join results x on x.batch_id = r.batch_id and x.line = r.line where r.batch_id = ${id} order by r.line`,
  );
  return found.map((r) => ({
    id: `batch_req_${r.line}`,
    custom_id: r.customId,
    response: r.response === null ? null : { status_code: r.statusCode ?? 200, request_id: `req_${r.line}`, body: JSON.parse(r.response) },
    error: r.error,
    request: JSON.parse(r.body),
    metadata: null,
  }));
}

const annotationOf = async (customId: string) => {
  const [found] = await rows<{ gold: boolean | null; rating: number | null; correction: string | null; annotator: string; source: string }>(
    test().database.db,
    sql`select gold, rating::int as rating, correction, annotator, source from result_annotations where batch_id = ${batchId} and custom_id = ${customId}`,
  );
  return found;
};

const metadataOf = async (customId: string) => {
  const [found] = await rows<{ metadata: Record<string, unknown> }>(
    test().database.db,
    sql`select m.metadata from result_metadata m join requests r on r.batch_id = m.batch_id and r.line = m.line
        where r.batch_id = ${batchId} and r.custom_id = ${customId}`,
  );
  return found?.metadata;
};

// What a reviewer's submission holds, in the shape Label Studio's editor gives for LABEL_CONFIG's controls.
const gold = (): ResultItem => ({ id: 'g1', from_name: 'gold', to_name: 'response', type: 'choices', value: { choices: [GOLD_CHOICE] } });
const rating = (n: number): ResultItem => ({ id: 'r1', from_name: 'rating', to_name: 'response', type: 'rating', value: { rating: n } });
const text = (t: string): ResultItem => ({
  id: 'c1',
  from_name: 'correction',
  to_name: 'response',
  type: 'textarea',
  value: { text: [t] },
  origin: 'prediction',
});

const post = (body: unknown, authorization: string | null = `Bearer ${SECRET}`) =>
  fetch(`${gateway}/v1/integrations/label-studio/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

beforeAll(async () => {
  const config = loadGatewayConfig({ API_KEYS: API_KEY, LABEL_STUDIO_WEBHOOK_SECRET: SECRET });
  app = createApp({ config, database: test().database, logger: createLogger({ level: 'silent' }), bus });
  server = createAdaptorServer({ fetch: app.fetch }) as Server;
  gateway = await listenLocal(server);

  batchId = await finishedBatch(test().database, { succeeded: 3, failed: 1, owner: await ownerOfKey(API_KEY) });
  await test().database.db.execute(sql`
    update requests set body = json_build_object('model', 'sim-model', 'messages',
      json_build_array(json_build_object('role', 'user', 'content', 'question ' || line)))::text
    where batch_id = ${batchId}`);

  // The batch's results go to Label Studio as the labelStudio handler imports them.
  ls = await startLabelStudioStandin({ projects: [PROJECT, 2] });
  const results = await handlerResults(batchId);
  await labelStudio.handle(
    createTestContext(labelStudio, {
      options: { projectId: PROJECT },
      deployment: { url: ls.url, token: ls.token },
      batch: { id: batchId, model: 'sim-model' },
      results: () => results.filter((r) => r.response),
    }),
  );
  // Project settings > Webhooks: the gateway's URL, the secret as a header, the annotation actions.
  ls.addWebhook(PROJECT, {
    url: `${gateway}/v1/integrations/label-studio/webhook`,
    headers: { Authorization: `Bearer ${SECRET}` },
  });
});
afterAll(async () => {
  await ls?.close();
  if (server) await closeServer(server);
  await app?.close();
});

describe("Label Studio's annotation webhook", () => {
  it('records a gold star and a rating, not an unchanged correction, and announces the change', async () => {
    const task = ls.taskOf(PROJECT, 'req-1');
    expect(task.data).toMatchObject({ batch_id: batchId, custom_id: 'req-1', response: 'answer 1', prompt: 'user: question 1' });
    const events: BusEvent[] = [];
    const stop = await bus.subscribe(TOPICS.annotations(batchId), (event) => void events.push(event));
    try {
      const { annotation, deliveries } = await ls.submitAnnotation(task.id, [gold(), rating(4), text('answer 1')], { userId: 7 });
      expect(deliveries).toEqual([
        {
          action: 'ANNOTATION_CREATED',
          status: 200,
          body: expect.objectContaining({
            recorded: [expect.objectContaining({ custom_id: 'req-1', gold: true, rating: 4, correction: null })],
          }),
        },
      ]);
      expect(await annotationOf('req-1')).toEqual({
        gold: true,
        rating: 4,
        correction: null,
        annotator: 'label-studio:7',
        source: 'label-studio',
      });
      expect(await metadataOf('req-1')).toEqual({ labelStudio: { projectId: PROJECT, taskId: task.id, annotationId: annotation.id } });
      expect(events).toEqual([expect.objectContaining({ type: 'result.annotated', batchId, owner: await ownerOfKey(API_KEY) })]);
    } finally {
      await stop();
    }
  });

  it('takes an update: the star removed, another rating, an edited answer as the correction, by whoever changed it', async () => {
    const task = ls.taskOf(PROJECT, 'req-2');
    const { annotation } = await ls.submitAnnotation(task.id, [gold(), rating(5), text('answer 2')]);
    expect(await annotationOf('req-2')).toMatchObject({ gold: true, rating: 5, correction: null });
    const [delivery] = await ls.updateAnnotation(annotation.id, [rating(2), text('The right answer is 42.')], { userId: 5 });
    expect(delivery).toMatchObject({ action: 'ANNOTATION_UPDATED', status: 200 });
    expect(await annotationOf('req-2')).toMatchObject({ gold: false, rating: 2, correction: 'The right answer is 42.' });
    // As the batch's owner sees it.
    const res = await fetch(`${gateway}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({
        query: `query ($id: ID!) { batch(id: $id) { results(filter: { annotated: true }) { edges { node { customId annotation { gold rating correction annotator source } } } } } }`,
        variables: { id: batchId },
      }),
    });
    const { data } = (await res.json()) as { data: { batch: { results: { edges: { node: unknown }[] } } } };
    expect(data.batch.results.edges.map((e) => e.node)).toContainEqual({
      customId: 'req-2',
      annotation: { gold: false, rating: 2, correction: 'The right answer is 42.', annotator: 'label-studio:5', source: 'label_studio' },
    });
  });

  it('clears gold, rating and correction when the annotation is deleted, found by its id alone', async () => {
    const task = ls.taskOf(PROJECT, 'req-3');
    const { annotation } = await ls.submitAnnotation(task.id, [gold(), rating(3), text('better')]);
    expect(await annotationOf('req-3')).toMatchObject({ gold: true, rating: 3, correction: 'better' });
    const [delivery] = await ls.deleteAnnotation(annotation.id);
    expect(delivery).toMatchObject({ action: 'ANNOTATIONS_DELETED', status: 200, body: { ignored_annotations: [] } });
    expect(await annotationOf('req-3')).toEqual({
      gold: null,
      rating: null,
      correction: null,
      annotator: 'label-studio',
      source: 'label-studio',
    });
    expect(await metadataOf('req-3')).toEqual({ labelStudio: { projectId: PROJECT, taskId: task.id } });
  });

  it("keeps the result's annotation when an older reviewer's annotation is deleted", async () => {
    const task = ls.taskOf(PROJECT, 'req-2');
    const first = await ls.submitAnnotation(task.id, [rating(1)], { userId: 8 });
    await ls.submitAnnotation(task.id, [gold(), rating(5)], { userId: 9 });
    const [delivery] = await ls.deleteAnnotation(first.annotation.id);
    expect(delivery).toMatchObject({ status: 200, body: { recorded: [], ignored_annotations: [first.annotation.id] } });
    expect(await annotationOf('req-2')).toMatchObject({ gold: true, rating: 5, annotator: 'label-studio:9' });
  });

  it('records every annotation of a bulk ANNOTATIONS_CREATED (lists of annotations and of their tasks)', async () => {
    const [first, second] = [ls.taskOf(PROJECT, 'req-1'), ls.taskOf(PROJECT, 'req-2')];
    const annotation = (id: number, task: number, result: ResultItem[]) => ({
      id,
      task,
      result,
      completed_by: 3,
      was_cancelled: false,
      ground_truth: false,
    });
    const [delivery] = await ls.emit(PROJECT, 'ANNOTATIONS_CREATED', {
      annotation: [annotation(501, second!.id, [rating(3)]), annotation(502, first!.id, [gold(), rating(5)])],
      task: [first, second],
      project: { id: PROJECT },
    });
    expect(delivery).toMatchObject({ status: 200, body: { action: 'ANNOTATIONS_CREATED', recorded: 2, failed: [] } });
    expect(await annotationOf('req-2')).toMatchObject({ gold: false, rating: 3, annotator: 'label-studio:3' });
    expect(await annotationOf('req-1')).toMatchObject({ gold: true, rating: 5 });
  });

  it('records the good items of a bulk ANNOTATIONS_CREATED after bad ones, and answers 200 naming those it could not record', async () => {
    // Label Studio does not retry a webhook: a refusal of the whole payload would lose the good item.
    const task = ls.taskOf(PROJECT, 'req-3');
    const unknown = { ...task, id: 90_001, data: { ...task.data, custom_id: 'nope' } };
    const byHand = { id: 90_002, project: PROJECT, data: { text: 'a task added by hand' } };
    const annotation = (id: number, on: number, result: ResultItem[]) => ({ id, task: on, result, completed_by: 4, was_cancelled: false });
    const [delivery] = await ls.emit(PROJECT, 'ANNOTATIONS_CREATED', {
      annotation: [
        annotation(601, unknown.id, [rating(1)]),
        annotation(602, byHand.id, [rating(1)]),
        annotation(603, task.id, [gold(), rating(4)]),
      ],
      task: [unknown, byHand, task],
      project: { id: PROJECT },
    });
    expect(delivery).toEqual({
      action: 'ANNOTATIONS_CREATED',
      status: 200,
      body: {
        action: 'ANNOTATIONS_CREATED',
        recorded: 1,
        failed: [
          {
            annotation_id: 601,
            task_id: unknown.id,
            error: `Label Studio task ${unknown.id} (annotation 601): batch ${batchId} has no request with custom_id "nope"; check the batch id and custom_id`,
          },
          {
            annotation_id: 602,
            task_id: byHand.id,
            error: expect.stringContaining(
              "task.1.data.batch_id: required: the task was not imported by the gateway's labelStudio handler",
            ),
          },
        ],
        skipped_annotations: [],
      },
    });
    expect(await annotationOf('req-3')).toMatchObject({ gold: true, rating: 4, annotator: 'label-studio:4' });
    expect(await annotationOf('nope')).toBeUndefined();
  });

  it('ignores a skipped task and the actions it does not handle', async () => {
    const task = ls.taskOf(PROJECT, 'req-1');
    const before = await annotationOf('req-1');
    const { deliveries } = await ls.submitAnnotation(task.id, [], { skipped: true });
    expect(deliveries[0]).toMatchObject({ status: 200, body: { recorded: [], skipped_annotations: [expect.any(Number)] } });
    expect(await annotationOf('req-1')).toEqual(before);
    const [other] = await ls.emit(PROJECT, 'PROJECT_UPDATED', { project: { id: PROJECT } });
    expect(other).toMatchObject({
      status: 200,
      body: { action: 'PROJECT_UPDATED', ignored: expect.stringContaining('ANNOTATION_CREATED') },
    });
  });

  it('refuses a wrong or missing secret, and an API key is not the secret', async () => {
    const payload = { action: 'PROJECT_UPDATED', project: { id: PROJECT } };
    for (const authorization of [null, 'Bearer wrong-secret', `Token ${SECRET}`, `Bearer ${API_KEY}`]) {
      const res = await post(payload, authorization);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('LABEL_STUDIO_WEBHOOK_SECRET');
    }
    // Nor does the secret open the rest of the API.
    expect((await fetch(`${gateway}/v1/batches`, { headers: { authorization: `Bearer ${SECRET}` } })).status).toBe(401);
  });

  it('says how to enable it when LABEL_STUDIO_WEBHOOK_SECRET is unset', async () => {
    const off = createApp({ config: loadGatewayConfig({}), database: test().database, logger: createLogger({ level: 'silent' }) });
    try {
      const res = await off.request('/v1/integrations/label-studio/webhook', {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Bearer ${SECRET}` },
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('set LABEL_STUDIO_WEBHOOK_SECRET');
    } finally {
      await off.close();
    }
  });

  it('answers a task it cannot map back with an error naming what is wrong', async () => {
    const task = ls.taskOf(PROJECT, 'req-1');
    const annotation = { id: 999, task: task.id, result: [rating(2)], completed_by: 1, was_cancelled: false };
    const unknown = await post({
      action: 'ANNOTATION_CREATED',
      annotation,
      task: { ...task, data: { ...task.data, custom_id: 'nope' } },
      project: { id: PROJECT },
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toBe(
      `Label Studio task ${task.id} (annotation 999): batch ${batchId} has no request with custom_id "nope"; check the batch id and custom_id`,
    );
    const foreign = await post({ action: 'ANNOTATION_CREATED', annotation, task: { id: task.id, data: { text: 'imported by hand' } } });
    expect(foreign.status).toBe(400);
    expect(((await foreign.json()) as { error: { message: string } }).error.message).toContain(
      "task.data.batch_id: required: the task was not imported by the gateway's labelStudio handler",
    );
    expect(await annotationOf('nope')).toBeUndefined();
  });

  it('answers a payload missing its parts with 400 naming them', async () => {
    const cases: [unknown, string][] = [
      ['not json', 'The body is not JSON'],
      [{ annotation: {} }, 'action: expected the webhook action'],
      [
        { action: 'ANNOTATION_UPDATED', annotation: { id: 1, task: 2 }, task: { id: 2, data: { batch_id: batchId, custom_id: 'req-1' } } },
        'annotation.result: expected the annotation result (a list)',
      ],
      [{ action: 'ANNOTATIONS_DELETED', project: { id: 1 } }, 'annotations: expected the deleted annotations'],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(message);
    }
    const task = ls.taskOf(PROJECT, 'req-1');
    const outOfRange = await post({
      action: 'ANNOTATION_CREATED',
      annotation: { id: 5, task: task.id, result: [rating(10)], completed_by: 1 },
      task,
    });
    expect(outOfRange.status).toBe(400);
    expect(((await outOfRange.json()) as { error: { message: string } }).error.message).toContain('expected a rating from 1 to 5, got 10');
  });
});
