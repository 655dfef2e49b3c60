import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { defineHandler, HandlerError, loadHandlerRegistry, ManifestError, z } from '../../handlers/sdk/index.ts';
import { recordAnnotation, retryHandlerRun } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { ROOT } from '../helpers/processes.ts';
import { finishedBatch, runsEnded, runsOf } from './support/batches.ts';
import { useQuickRunner } from './support/quick-runner.ts';
import { registryOf } from './support/registry.ts';

const events: string[] = [];
/** Batches whose extractor fails for good until the test lets it through. */
const broken = new Set<string>();

/** Attaches a topic to every result; slow, so that a handler not made to wait would start first. */
const extractor = defineHandler({
  name: 'extractor',
  description: 'Attaches metadata to each result it reads.',
  options: z.object({}),
  events: ['completed', 'result.annotated'],
  async handle(context) {
    events.push(`extractor:start:${context.runId}`);
    if (broken.has(context.batch.id)) throw new HandlerError('the extractor is broken', { retryable: false });
    await new Promise((r) => setTimeout(r, 250));
    if (context.result) await context.setResultMetadata(context.result.custom_id, { reviewed: true });
    else
      for await (const result of context.results()) await context.setResultMetadata(result.custom_id, { topic: `t-${result.custom_id}` });
    events.push(`extractor:end:${context.runId}`);
  },
});

/** Reports the metadata it sees: what the extractor attached before it. */
const importer = defineHandler({
  name: 'importer',
  description: 'Reads the metadata the extractor attached.',
  options: z.object({}),
  events: ['completed', 'result.annotated'],
  after: ['extractor'],
  async handle(context) {
    events.push(`importer:start:${context.runId}`);
    if (context.result) return { metadata: context.result.metadata };
    const metadata: unknown[] = [];
    for await (const result of context.results()) metadata.push(result.metadata);
    return { metadata };
  },
});

/** Calls setResultMetadata with what the batch's options say. */
const tagger = defineHandler({
  name: 'tagger',
  description: 'Attaches metadata to the result named in its options.',
  options: z.object({ customId: z.string(), asArray: z.boolean().default(false) }),
  async handle(context) {
    await context.setResultMetadata(context.options.customId, (context.options.asArray ? ['x'] : { tag: 'x' }) as Record<string, unknown>);
  },
});

// The importer is installed first: the order comes from `after`, not from the registry.
const registry = registryOf([importer], [extractor], [tagger]);
const logger = createLogger({ level: 'silent' });

describe('handlers of one batch in the order of their after', () => {
  const database = useTestDatabase();
  const db = () => database().database;
  /** The gateway's GraphQL API over the same database and handlers. */
  const graphql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const app = createApp({ config: loadGatewayConfig({}), database: db(), logger, handlers: registry });
    try {
      const res = await app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data: T; errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    } finally {
      await app.close();
    }
  };
  const { start, nudge } = useQuickRunner(registry, db);
  const index = (event: string) => events.indexOf(event);

  it("starts a handler once the one it runs after has ended, and shows it that handler's metadata", async () => {
    const batchId = await finishedBatch(db(), { succeeded: 2, handlers: { importer: {}, extractor: {} } });
    start();
    const runs = await runsEnded(db(), batchId);
    expect(runs.map((r) => [r.handler, r.status])).toEqual([
      ['extractor', 'succeeded'],
      ['importer', 'succeeded'],
    ]);
    expect(index(`importer:start:${batchId}:importer`)).toBeGreaterThan(index(`extractor:end:${batchId}:extractor`));
    expect(runs[1]?.result).toEqual({ metadata: [{ topic: 't-req-1' }, { topic: 't-req-2' }] });

    // The same for an annotation change: both runs of the change, the importer's after the extractor's.
    const outcome = await recordAnnotation(db().db, {
      batchId,
      customId: 'req-2',
      owner: 'local',
      patch: { gold: true },
      annotator: 'alice',
      source: 'api',
      annotationHandlers: ['importer', 'extractor'],
    });
    if (!outcome.ok) throw new Error(outcome.reason);
    nudge();
    let all = await runsEnded(db(), batchId);
    for (let i = 0; i < 200 && all.length < 4; i++) all = await runsEnded(db(), batchId);
    const seq = outcome.annotation?.seq;
    expect(index(`importer:start:${batchId}:importer:annotation:${seq}`)).toBeGreaterThan(
      index(`extractor:end:${batchId}:extractor:annotation:${seq}`),
    );
    const annotationRun = all.find((r) => r.handler === 'importer' && r.event === 'result.annotated');
    // Merged key by key into what the batch-end run attached.
    expect(annotationRun?.result).toEqual({ metadata: { topic: 't-req-2', reviewed: true } });

    // GraphQL keeps the batch-end runs in handlerRuns and lists the change's runs apart, with their line and annotation.
    const data = await graphql<{ batch: { handlerRuns: unknown[]; annotationRuns: unknown[] }; handlers: unknown[] }>(
      `query ($id: ID!) {
        batch(id: $id) { handlerRuns { handler event line } annotationRuns { handler event line annotation status } }
        handlers { name after events }
      }`,
      { id: batchId },
    );
    expect(data.batch.handlerRuns).toEqual([
      { handler: 'extractor', event: 'completed', line: null },
      { handler: 'importer', event: 'completed', line: null },
    ]);
    expect(data.batch.annotationRuns).toEqual(
      ['extractor', 'importer'].map((handler) => ({
        handler,
        event: 'result.annotated',
        line: 2,
        annotation: expect.objectContaining({ customId: 'req-2', gold: true, annotator: 'alice' }),
        status: 'succeeded',
      })),
    );
    expect(data.handlers).toEqual([
      { name: 'importer', after: ['extractor'], events: ['completed', 'result.annotated'] },
      { name: 'extractor', after: [], events: ['completed', 'result.annotated'] },
      { name: 'tagger', after: [], events: ['completed', 'failed', 'expired', 'cancelled'] },
    ]);
  });

  it('holds a handler while the one it runs after is dead, and lets it go once that one is retried', async () => {
    const batchId = await finishedBatch(db(), { succeeded: 1, handlers: { importer: {}, extractor: {} } });
    broken.add(batchId);
    start();
    for (let i = 0; i < 200; i++) {
      if ((await runsOf(db(), batchId)).some((r) => r.status === 'dead')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // A few polls later the importer still waits, never tried.
    await new Promise((r) => setTimeout(r, 400));
    const held = await runsOf(db(), batchId);
    expect(held.map((r) => [r.handler, r.status, r.attempts])).toEqual([
      ['extractor', 'dead', 1],
      ['importer', 'queued', 0],
    ]);
    expect(events).not.toContain(`importer:start:${batchId}:importer`);
    const waiting = await graphql<{ batch: { handlerRuns: { handler: string; waitingFor: string | null }[] } }>(
      'query ($id: ID!) { batch(id: $id) { handlerRuns { handler waitingFor } } }',
      { id: batchId },
    );
    expect(waiting.batch.handlerRuns).toEqual([
      { handler: 'extractor', waitingFor: null },
      { handler: 'importer', waitingFor: `run ${held[0]?.id} of extractor, which this handler runs after (dead)` },
    ]);

    broken.delete(batchId);
    const dead = held[0];
    if (!dead) throw new Error('no extractor run');
    expect((await retryHandlerRun(db().db, { id: dead.id, owner: 'local' }))?.requeued).toBe(true);
    nudge();
    const runs = await runsEnded(db(), batchId);
    expect(runs.map((r) => [r.handler, r.status])).toEqual([
      ['extractor', 'succeeded'],
      ['importer', 'succeeded'],
    ]);
    expect(runs[1]?.result).toEqual({ metadata: [{ topic: 't-req-1' }] });
  });

  it('ends a run dead at once when it attaches metadata to an unknown custom_id or attaches a non-object', async () => {
    const unknownId = await finishedBatch(db(), { succeeded: 1, handlers: { tagger: { customId: 'no-such-id' } } });
    const notObject = await finishedBatch(db(), { succeeded: 1, handlers: { tagger: { customId: 'req-1', asArray: true } } });
    start();
    expect((await runsEnded(db(), unknownId))[0]).toMatchObject({
      status: 'dead',
      attempts: 1,
      last_error: `setResultMetadata("no-such-id"): batch ${unknownId} has no request with this custom_id`,
    });
    expect((await runsEnded(db(), notObject))[0]).toMatchObject({
      status: 'dead',
      attempts: 1,
      last_error: 'setResultMetadata("req-1"): metadata must be a JSON object of keys to values',
    });
  });
});

describe('after in a manifest', () => {
  const SDK = join(ROOT, 'handlers/sdk/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'vbs-order-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const manifestOf = (name: string, handlers: Record<string, string[]>) => {
    mkdirSync(join(dir, name), { recursive: true });
    for (const [handler, after] of Object.entries(handlers)) {
      writeFileSync(
        join(dir, name, `${handler}.ts`),
        `import { defineHandler, z } from ${JSON.stringify(SDK)};
export default defineHandler({ name: ${JSON.stringify(handler)}, description: 'x', options: z.object({}),
  after: ${JSON.stringify(after)}, handle: async () => null });`,
      );
    }
    const file = join(dir, name, 'manifest.json');
    writeFileSync(file, JSON.stringify({ handlers: Object.keys(handlers).map((h) => ({ module: `./${h}.ts` })) }));
    return file;
  };

  const refusal = async (file: string) => {
    const error = await loadHandlerRegistry({ manifests: [file], env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    return (error as ManifestError).message;
  };

  it('is refused when it names a handler that is not installed', async () => {
    const file = manifestOf('unknown', { importer: ['extractr'], extractor: [] });
    expect(await refusal(file)).toBe(
      `Handler manifest ${file}: handler "importer" runs after "extractr", which is not installed (installed: importer, extractor); install it or remove it from "after"`,
    );
  });

  it('is refused when handlers wait for each other in a circle', async () => {
    const file = manifestOf('cycle', { first: ['third'], second: ['first'], third: ['second'] });
    expect(await refusal(file)).toBe(
      `Handler manifest ${file}: handlers wait for each other in a circle through "after" (first → third → second → first): none of them could ever run; remove one of these "after" entries`,
    );
  });

  it('loads an order without a cycle, and the registry gives it to the runner', async () => {
    const file = manifestOf('fine', { load: ['extract', 'clean'], extract: ['clean'], clean: [] });
    const loaded = await loadHandlerRegistry({ manifests: [file], env: {} });
    expect(loaded.after).toEqual({ load: ['extract', 'clean'], extract: ['clean'] });
  });
});
