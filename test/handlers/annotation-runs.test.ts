import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { annotationHandlers } from '../../gateway/annotations/index.ts';
import { defineHandler, z, type HandlerAnnotation, type HandlerContext, type HandlerResult } from '../../handlers/sdk/index.ts';
import { handlerRunWaits, recordAnnotation, retryHandlerRun, rows, type AnnotationPatch } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { finishedBatch, runsEnded, runsOf } from './support/batches.ts';
import { useQuickRunner } from './support/quick-runner.ts';
import { registryOf } from './support/registry.ts';

/** What a handler saw in one run, in the order the runs started and ended. */
interface Seen {
  handler: string;
  phase: 'start' | 'end';
  runId: string;
  event: string;
  attempt: number;
  annotation: HandlerAnnotation | null;
  result: HandlerResult | null;
}
const seen: Seen[] = [];
const note = (handler: string, phase: Seen['phase'], context: HandlerContext) =>
  seen.push({
    handler,
    phase,
    runId: context.runId,
    event: context.event,
    attempt: context.attempt,
    annotation: context.annotation,
    result: context.result,
  });

/** Takes its time on a first change of a result, so that a second change's run would overtake it if it could. */
const curator = defineHandler({
  name: 'curator',
  description: 'Records what it sees, on a batch end and on each annotation change.',
  options: z.object({ failFirst: z.boolean().default(false) }),
  events: ['completed', 'result.annotated'],
  async handle(context) {
    note('curator', 'start', context);
    const first = context.annotation?.rating === null;
    if (first) await new Promise((r) => setTimeout(r, 300));
    if (first && context.options.failFirst && context.attempt === 1) throw new Error('the sync was unreachable');
    note('curator', 'end', context);
    return { saw: context.annotation?.gold ?? null };
  },
});

const bystander = defineHandler({
  name: 'bystander',
  description: 'Takes annotation changes too, but no batch of these tests names it.',
  options: z.object({}),
  events: ['result.annotated'],
  async handle(context) {
    note('bystander', 'start', context);
  },
});

const registry = registryOf([curator], [bystander]);

describe('result.annotated handler runs', () => {
  const database = useTestDatabase();
  const db = () => database().database;

  const { start, nudge } = useQuickRunner(registry, db, { resultsPageSize: 100 });

  /** Annotates a result the way the API does: the runs go to the handlers the batch named that take result.annotated. */
  const annotate = async (batchId: string, customId: string, patch: AnnotationPatch) => {
    const outcome = await recordAnnotation(db().db, {
      batchId,
      customId,
      owner: 'local',
      patch,
      annotator: 'alice',
      source: 'api',
      annotationHandlers: annotationHandlers(registry),
    });
    if (!outcome.ok) throw new Error(`annotation refused: ${outcome.reason}`);
    if (!outcome.annotation) throw new Error('the change set nothing');
    nudge();
    return outcome.annotation;
  };

  const ended = async (batchId: string, count: number) => {
    for (let i = 0; i < 400; i++) {
      const runs = await runsEnded(db(), batchId);
      if (runs.length >= count) return runs;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${batchId} did not get ${count} runs`);
  };

  it("gives the handler the annotation and the annotated result with its request, and the batch's end neither", async () => {
    const batchId = await finishedBatch(db(), { succeeded: 3, handlers: { curator: {} } });
    start();
    await ended(batchId, 1);
    const change = await annotate(batchId, 'req-2', { gold: true, rating: 5, correction: 'a better answer', labels: ['math'] });
    const runs = await ended(batchId, 2);

    expect(runs.map((r) => [r.handler, r.event, r.status])).toEqual([
      ['curator', 'completed', 'succeeded'],
      ['curator', 'result.annotated', 'succeeded'],
    ]);
    const batchEnd = seen.find((s) => s.phase === 'end' && s.runId === `${batchId}:curator`);
    expect(batchEnd).toMatchObject({ event: 'completed', annotation: null, result: null });
    const onChange = seen.find((s) => s.phase === 'end' && s.runId === `${batchId}:curator:annotation:${change.seq}`);
    expect(onChange?.event).toBe('result.annotated');
    expect(onChange?.annotation).toEqual({
      batchId,
      customId: 'req-2',
      line: 2,
      gold: true,
      rating: 5,
      correction: 'a better answer',
      labels: ['math'],
      note: null,
      annotator: 'alice',
      source: 'api',
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(onChange?.result).toMatchObject({
      custom_id: 'req-2',
      response: { status_code: 200, body: expect.objectContaining({ object: 'chat.completion' }) },
      error: null,
      request: { model: 'sim-model', messages: [] },
      metadata: null,
    });
  });

  it("runs the changes of one result in order: the second change's run starts once the first has ended", async () => {
    const batchId = await finishedBatch(db(), { succeeded: 2, handlers: { curator: {} } });
    const first = await annotate(batchId, 'req-1', { gold: true });
    const second = await annotate(batchId, 'req-1', { rating: 4 });
    const other = await annotate(batchId, 'req-2', { gold: true });
    // Before any runner: the second change's run says what it waits for; another result's run waits for nothing.
    const ids = new Map(
      (
        await rows<{ id: number; seq: number }>(
          db().db,
          sql`select id::float8 as id, annotation_seq::float8 as seq from handler_runs where batch_id = ${batchId} and annotation_seq is not null`,
        )
      ).map((r) => [r.seq, r.id]),
    );
    const waits = (seq: number) => handlerRunWaits(db().db, { id: ids.get(seq) ?? -1, after: registry.after });
    expect(await waits(second.seq)).toBe(`run ${ids.get(first.seq)} of curator for an earlier change of this result (queued)`);
    expect(await waits(other.seq)).toBeNull();
    start();
    await ended(batchId, 4);

    const key = (seq: number) => `${batchId}:curator:annotation:${seq}`;
    const mine = seen.filter((s) => s.runId === key(first.seq) || s.runId === key(second.seq)).map((s) => [s.phase, s.runId]);
    expect(mine).toEqual([
      ['start', key(first.seq)],
      ['end', key(first.seq)],
      ['start', key(second.seq)],
      ['end', key(second.seq)],
    ]);
    const last = seen.find((s) => s.phase === 'end' && s.runId === key(second.seq));
    // Each run carries the annotation as its own change left it.
    expect(last?.annotation).toMatchObject({ gold: true, rating: 4 });
  });

  it("retries a failed change's run before the next change's run of the same result goes", async () => {
    const batchId = await finishedBatch(db(), { succeeded: 1, handlers: { curator: { failFirst: true } } });
    const first = await annotate(batchId, 'req-1', { gold: true });
    const second = await annotate(batchId, 'req-1', { gold: null, rating: 2 });
    start();
    await ended(batchId, 3);

    const key = (seq: number) => `${batchId}:curator:annotation:${seq}`;
    const starts = seen.filter((s) => s.phase === 'start' && s.runId.startsWith(`${batchId}:curator:annotation:`));
    expect(starts.map((s) => [s.runId, s.attempt])).toEqual([
      [key(first.seq), 1],
      [key(first.seq), 2],
      [key(second.seq), 1],
    ]);
    const runs = await runsOf(db(), batchId);
    expect(runs.filter((r) => r.event === 'result.annotated').map((r) => [r.status, r.attempts])).toEqual([
      ['succeeded', 2],
      ['succeeded', 1],
    ]);
  });

  it('skips a dead change retried after a later change of the result went through: the older annotation no longer stands', async () => {
    const batchId = await finishedBatch(db(), { succeeded: 1, handlers: { curator: {} } });
    const first = await annotate(batchId, 'req-1', { gold: true });
    const second = await annotate(batchId, 'req-1', { gold: null });
    // The first change's run used its attempts up (as a handler failing for a while would).
    await db().db.execute(sql`update handler_runs set status = 'dead' where batch_id = ${batchId} and annotation_seq = ${first.seq}`);
    start();
    await ended(batchId, 3);
    const [dead] = await rows<{ id: number }>(
      db().db,
      sql`select id::float8 as id from handler_runs where batch_id = ${batchId} and annotation_seq = ${first.seq}`,
    );
    expect((await retryHandlerRun(db().db, { id: dead!.id, owner: 'local' }))?.requeued).toBe(true);
    nudge();
    const runs = await ended(batchId, 3);
    const retried = runs.find((r) => r.id === dead!.id);
    expect(retried?.status).toBe('skipped');
    const [why] = await rows<{ reason: string }>(db().db, sql`select result->>'reason' as reason from handler_runs where id = ${dead!.id}`);
    expect(why?.reason).toBe(`a later change of this result (annotation ${second.seq}) has already been handled by curator`);
    // The handler never saw the star that was taken away.
    expect(seen.filter((s) => s.runId === `${batchId}:curator:annotation:${first.seq}`)).toEqual([]);
  });

  it('gives nothing to a handler the batch did not name, even one that takes result.annotated', async () => {
    const batchId = await finishedBatch(db(), { succeeded: 1, handlers: { curator: {} } });
    start();
    await annotate(batchId, 'req-1', { gold: true });
    const runs = await ended(batchId, 2);
    expect(runs.map((r) => r.handler)).toEqual(['curator', 'curator']);
    expect(seen.filter((s) => s.handler === 'bystander')).toEqual([]);
  });
});
