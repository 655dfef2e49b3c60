import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { listModels, listWorkers, modelDemand, registerModel, removeModel, servedModels, updateModel } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answer, insertBatch } from '../queue/batch-fixtures.ts';

describe.each(DRIVERS)('model registry and worker statements on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('registers a model once, changes only the fields given, and removes it', async () => {
    const { db } = database();
    const model = await registerModel(db, {
      name: 'org/a',
      source: 'hf:org/a',
      engineArgs: ['--dtype', 'half'],
      maxConcurrency: null,
      enabled: true,
    });
    expect(model).toMatchObject({
      name: 'org/a',
      source: 'hf:org/a',
      engineArgs: ['--dtype', 'half'],
      maxConcurrency: null,
      enabled: true,
    });
    expect(
      await registerModel(db, { name: 'org/a', source: 'other', engineArgs: [], maxConcurrency: null, enabled: true }),
    ).toBeUndefined();
    const updated = await updateModel(db, 'org/a', { enabled: false, maxConcurrency: 4 });
    expect(updated).toMatchObject({ source: 'hf:org/a', engineArgs: ['--dtype', 'half'], enabled: false, maxConcurrency: 4 });
    expect(updated!.updatedAtMs).toBeGreaterThanOrEqual(model!.updatedAtMs);
    expect(await updateModel(db, 'org/none', { enabled: true })).toBeUndefined();
    // Other tests register models in the same database: look at this one only.
    const named = (models: { name: string }[]) => models.map((m) => m.name).filter((name) => name === 'org/a');
    expect(named(await listModels(db))).toEqual(['org/a']);
    expect(named(await listModels(db, { enabledOnly: true }))).toEqual([]);
    expect(await removeModel(db, 'org/a')).toBe(true);
    expect(await removeModel(db, 'org/a')).toBe(false);
  });

  it('serves the enabled registry and the models of live workers, each once', async () => {
    const { db } = database();
    await registerModel(db, { name: 'm-reg', source: 'x', engineArgs: [], maxConcurrency: null, enabled: true });
    await registerModel(db, { name: 'm-off', source: 'x', engineArgs: [], maxConcurrency: null, enabled: false });
    await db.execute(sql`insert into workers (id, host, gpu, pid, model, engine_url, status, gpu_stats) values
      ('w1', 'h', '0', 1, 'm-reg', 'http://e', 'ready', null),
      ('w2', 'h', '1', 2, 'm-loaded', 'http://e', 'ready', '{"memoryUsedMiB":1,"memoryTotalMiB":2,"utilizationPercent":3,"temperatureC":4}'),
      ('w3', 'h', '2', 3, 'm-dead', 'http://e', 'lost', null)`);
    // Other tests add models and workers to the same database: look at this test's only.
    const models = ['m-reg', 'm-off', 'm-loaded', 'm-dead'];
    const mine = <T extends { id: string }>(workers: T[]) => workers.filter((w) => ['w1', 'w2', 'w3'].includes(w.id));
    expect((await servedModels(db)).map((m) => m.name).filter((name) => models.includes(name))).toEqual(['m-loaded', 'm-reg']);
    const workers = mine(await listWorkers(db));
    expect(workers.map((w) => w.id)).toEqual(['w1', 'w2']);
    expect(workers[1]).toMatchObject({ model: 'm-loaded', status: 'ready', completed: 0, gpuStats: { utilizationPercent: 3 } });
    expect(mine(await listWorkers(db, { includeStopped: true })).map((w) => w.id)).toEqual(['w1', 'w2', 'w3']);
  });

  it("serves every model a live worker's engine lists, with its card fields, as well as the registry's", async () => {
    const { db } = database();
    await registerModel(db, { name: 'sim-model', source: 'org/Sim-7B', engineArgs: [], maxConcurrency: null, enabled: true });
    await db.execute(sql`insert into workers (id, host, gpu, pid, model, engine_models, engine_url, status) values
      ('e1', 'h', '3', 1, 'sim-model', ${JSON.stringify([
        { id: 'sim-model', root: 'sim-model', maxModelLen: 8192 },
        { id: 'sim-embed', root: 'org/embed', maxModelLen: 512 },
      ])}::jsonb, 'http://e', 'ready'),
      ('e2', 'h', '4', 2, 'old-release-model', '[]'::jsonb, 'http://e', 'ready'),
      ('e3', 'h', '5', 3, 'gone', ${JSON.stringify([{ id: 'gone' }])}::jsonb, 'http://e', 'stopped')`);
    const mine = (await servedModels(db)).filter((m) => ['old-release-model', 'sim-embed', 'sim-model', 'gone'].includes(m.name));
    expect(mine.map(({ createdAtMs: _, ...m }) => m)).toEqual([
      { name: 'old-release-model', root: null, maxModelLen: null },
      { name: 'sim-embed', root: 'org/embed', maxModelLen: 512 },
      { name: 'sim-model', root: 'sim-model', maxModelLen: 8192 },
    ]);
  });

  it('lists the models of an engine whose card has an odd max_model_len, without it', async () => {
    const { db } = database();
    const odd = [
      { id: 'odd-fraction', maxModelLen: 8192.5 },
      { id: 'odd-huge', maxModelLen: 2 ** 31 },
      { id: 'odd-exponent', maxModelLen: 1e300 },
      { id: 'odd-negative', maxModelLen: -1 },
      { id: 'odd-text', maxModelLen: 'long' },
      { id: 'odd-object', maxModelLen: { tokens: 4096 } },
      { id: 'odd-largest', maxModelLen: 2 ** 31 - 1 },
    ];
    await db.execute(sql`insert into workers (id, host, gpu, pid, model, engine_models, engine_url, status) values
      ('odd', 'h', '6', 4, 'odd-fraction', ${JSON.stringify(odd)}::jsonb, 'http://e', 'ready')`);
    const mine = (await servedModels(db)).filter((m) => m.name.startsWith('odd-'));
    expect(mine.map((m) => [m.name, m.maxModelLen])).toEqual([
      ['odd-exponent', null],
      ['odd-fraction', null],
      ['odd-huge', null],
      ['odd-largest', 2 ** 31 - 1],
      ['odd-negative', null],
      ['odd-object', null],
      ['odd-text', null],
    ]);
  });

  it("tells an engine-owning worker each enabled model's queued lines and how long the head of its queue has waited", async () => {
    const { db } = database();
    await registerModel(db, { name: 'd-busy', source: 'x', engineArgs: [], maxConcurrency: null, enabled: true });
    await registerModel(db, { name: 'd-idle', source: 'x', engineArgs: [], maxConcurrency: null, enabled: true });
    const old = await insertBatch(database(), { count: 5, model: 'd-busy', rangeLines: 2 });
    await answer(database(), old, [3], 'succeeded');
    // Lines 1-2 go to a worker: in flight, no longer queued.
    await db.execute(sql`update request_ranges set lease_owner = 'w-demand', lease_expires_at = now() + interval '1 minute', attempts = 1
      where batch_id = ${old} and first_line = 1`);
    await db.execute(sql`update batches set in_progress_at = now() - interval '1 hour' where id = ${old}`);
    const urgent = await insertBatch(database(), { count: 2, model: 'd-busy', priority: 1 });
    await db.execute(sql`update batches set in_progress_at = now() - interval '10 minutes' where id = ${urgent}`);
    // Nobody may lease the lines of a batch being cancelled or past its window: they are not demand.
    const stopping = await insertBatch(database(), { count: 3, model: 'd-busy', priority: 2 });
    await db.execute(sql`update batches set status = 'cancelling' where id = ${stopping}`);
    const late = await insertBatch(database(), { count: 3, model: 'd-busy', priority: 2 });
    await db.execute(sql`update batches set expires_at = now() - interval '1 second' where id = ${late}`);
    const demand = (await modelDemand(db, { except: 'nobody', liveMs: 15_000 })).filter((m) => m.name.startsWith('d-'));
    // Queued: line 4 and 5 of the old batch (3 has its result), both of the urgent one, whose wait is the head's.
    expect(demand.map((m) => [m.name, m.queued])).toEqual([
      ['d-busy', 4],
      ['d-idle', 0],
    ]);
    expect(demand[0]!.waitedMs).toBeGreaterThan(590_000);
    expect(demand[0]!.waitedMs).toBeLessThan(3_000_000);
    expect(demand[1]!.waitedMs).toBe(0);
  });
});
