import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseModel } from '../../fleet/worker/model-choice.ts';
import { modelDemand, rows, type Database, type ModelDemand } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUN, freePort, start, type Running } from '../helpers/processes.ts';
import { eventually, FAST_WORKER_ENV, insertChatBatch, waitForBatch } from './helpers.ts';

const demand = (name: string, queued: number, more: Partial<ModelDemand> = {}): ModelDemand => ({
  name,
  source: `org/${name}`,
  engineArgs: [],
  maxConcurrency: null,
  queued,
  waitedMs: queued ? 1000 : 0,
  servingWorkers: 0,
  ...more,
});

const base = { idleForMs: 0, servedForMs: 0, idleSwitchMs: 10_000, fairnessMs: 600_000 };

describe('choosing the model of an engine-owning worker', () => {
  it('starts with the queued model fewest workers serve, else the first enabled one', () => {
    expect(chooseModel({ ...base, current: null, demand: [demand('a', 5, { servingWorkers: 2 }), demand('b', 1)] })?.name).toBe('b');
    expect(chooseModel({ ...base, current: null, demand: [demand('a', 0), demand('b', 0)] })?.name).toBe('a');
    expect(chooseModel({ ...base, current: null, demand: [] })).toBeNull();
  });

  it('switches when idle for its model while another enabled model has queued work', () => {
    const models = [demand('a', 0), demand('b', 3)];
    expect(chooseModel({ ...base, current: 'a', demand: models, idleForMs: 9_000 })).toBeNull();
    expect(chooseModel({ ...base, current: 'a', demand: models, idleForMs: 10_000 })?.name).toBe('b');
    expect(chooseModel({ ...base, current: 'a', demand: [demand('a', 0), demand('b', 0)], idleForMs: 60_000 })).toBeNull();
  });

  it('never switches away from queued work before the fairness bound', () => {
    const starving = demand('b', 3, { waitedMs: 700_000 });
    expect(chooseModel({ ...base, current: 'a', demand: [demand('a', 50), starving], servedForMs: 599_000 })).toBeNull();
    expect(
      chooseModel({ ...base, current: 'a', demand: [demand('a', 50), { ...starving, servingWorkers: 1 }], servedForMs: 700_000 }),
    ).toBeNull();
    expect(
      chooseModel({ ...base, current: 'a', demand: [demand('a', 50), { ...starving, waitedMs: 10_000 }], servedForMs: 700_000 }),
    ).toBeNull();
    expect(chooseModel({ ...base, current: 'a', demand: [demand('a', 50), starving], servedForMs: 700_000 })?.name).toBe('b');
  });
});

const queued = async (database: Database, batchId: string) =>
  (
    await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_states where batch_id = ${batchId} and status = 'queued'`,
    )
  )[0]?.n ?? 0;

interface FleetOptions {
  env?: Record<string, string>;
  startDelayS?: number;
  failing?: string;
  failOnce?: string;
}

describe('the model registry deciding what a GPU serves', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  /**
   * Starts a supervisor of one GPU whose engines are simulators. A delay before the engine
   * starts stands for the minutes vLLM takes to load weights; the `failing` model's engine
   * never answers /health, as a vLLM stuck loading weights; with `failOnce` (a file path),
   * the first engine start exits at once.
   */
  const fleet = async (url: string, simArgs: string, { env = {}, startDelayS = 0, failing = '', failOnce = '' }: FleetOptions = {}) => {
    const sim = `${BUN} fleet/entry/sim.ts --model {name} --port {port} ${simArgs}`;
    const fail = failing ? `if [ {name} = ${failing} ]; then exec sleep 60; fi; ` : '';
    // The file marks that the first start failed.
    const once = failOnce ? `if [ ! -e ${failOnce} ]; then touch ${failOnce}; exit 1; fi; ` : '';
    const engineCmd = startDelayS || failing || failOnce ? `sh -c '${fail}${once}sleep ${startDelayS}; exec ${sim}'` : sim;
    const supervisor = start(
      BUN,
      ['fleet/entry/supervisor.ts', '--gpus', '0', '--engine-cmd', engineCmd, '--engine-port', String(await freePort())],
      {
        env: { ...FAST_WORKER_ENV, DATABASE_URL: url, MODEL_CHECK_MS: '300', MODEL_IDLE_SWITCH_MS: '500', ...env },
      },
    );
    processes.push(supervisor);
    return supervisor;
  };

  /** Leaves only these models enabled, and no worker of an earlier test live. */
  const onlyModels = async (database: Database, names: string[]) => {
    await database.db.execute(sql`update models set enabled = false`);
    await database.db.execute(sql`update workers set status = 'stopped'`);
    for (const name of names) await database.db.execute(sql`insert into models (name, source) values (${name}, ${`org/${name}`})`);
  };

  it('switches an idle GPU to the model with queued work, and leaves requests for an unserved model queued', async () => {
    const { database, url } = test();
    await database.db.execute(
      sql`insert into models (name, source, engine_args) values ('model-a', 'org/a', '[]'), ('model-b', 'org/b', '[]')`,
    );
    const a = await insertChatBatch(database, { count: 40, model: 'model-a' });
    const b = await insertChatBatch(database, { count: 40, model: 'model-b' });
    const orphan = await insertChatBatch(database, { count: 5, model: 'model-nobody-serves' });
    const supervisor = await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16');
    expect(await waitForBatch(database, a, ['completed'], 30_000)).toBe('completed');
    expect(await waitForBatch(database, b, ['completed'], 30_000)).toBe('completed');
    expect(supervisor.output()).toMatch(/"msg":"switching model","[^\n]*"from":"model-a","to":"model-b"/);
    const [worker] = await rows<{ model: string; status: string }>(
      database.db,
      sql`select model, status from workers where status not in ('stopped', 'lost')`,
    );
    expect(worker, supervisor.output()).toEqual({ model: 'model-b', status: 'ready' });
    expect(await queued(database, orphan)).toBe(5);
    const [orphanBatch] = await rows<{ status: string }>(database.db, sql`select status from batches where id = ${orphan}`);
    expect(orphanBatch?.status).toBe('in_progress');
  });

  it('takes the GPU from a busy model for one starving past the fairness bound', async () => {
    const { database, url } = test();
    await database.db.execute(sql`insert into models (name, source) values ('busy-model', 'org/busy'), ('starving-model', 'org/starving')`);
    const busy = await insertChatBatch(database, { count: 3000, model: 'busy-model' });
    const starving = await insertChatBatch(database, { count: 10, model: 'starving-model' });
    // The busy model has waited longest, so it is loaded first; the other waited past the bound too.
    await database.db.execute(sql`update batches set in_progress_at = now() - interval '2 hours' where id = ${busy}`);
    await database.db.execute(sql`update batches set in_progress_at = now() - interval '1 hour' where id = ${starving}`);
    const supervisor = await fleet(url, '--ttft-ms 5 --tpot-ms 5 --output-tokens 40 --slots 8', { env: { MODEL_FAIRNESS_MS: '1500' } });
    await supervisor.waitFor(/"msg":"engine ready"[^\n]*"model":"busy-model"/, 30_000);
    expect(await waitForBatch(database, starving, ['completed'], 30_000)).toBe('completed');
    const left = await rows<{ status: string; n: number }>(
      database.db,
      sql`select status, count(*)::int as n from request_states where batch_id = ${busy} group by 1`,
    );
    expect(await queued(database, busy), `${JSON.stringify(left)}\n${supervisor.output()}`).toBeGreaterThan(0);
    expect(supervisor.output()).toMatch(/"msg":"switching model","[^\n]*"from":"busy-model","to":"starving-model"/);
  });

  it('counts a GPU as serving the model it is switching to, so other GPUs do not follow it there', async () => {
    const { database, url } = test();
    await onlyModels(database, ['first-model', 'next-model']);
    const first = await insertChatBatch(database, { count: 20, model: 'first-model' });
    await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16', { startDelayS: 2 });
    const switchingTo = async () => {
      const [row] = await rows<{ model: string | null; status: string }>(
        database.db,
        sql`select model, status from workers where status not in ('stopped', 'lost')`,
      );
      return row?.status === 'switching' ? row : null;
    };
    expect((await eventually(switchingTo, 30_000, 'the first model loading')).model).toBe('first-model');
    expect(await waitForBatch(database, first, ['completed'], 30_000)).toBe('completed');
    await insertChatBatch(database, { count: 20, model: 'next-model' });
    expect((await eventually(switchingTo, 30_000, 'the switch to the next model')).model).toBe('next-model');
    const demand = await modelDemand(database.db, { except: 'nobody', liveMs: 15_000 });
    expect(demand.map((m) => [m.name, m.servingWorkers])).toEqual([
      ['first-model', 0],
      ['next-model', 1],
    ]);
  });

  it('passes over a model whose engine fails to start for another with queued work, leasing nothing until that one runs', async () => {
    const { database, url } = test();
    await onlyModels(database, ['good-model', 'broken-model']);
    const first = await insertChatBatch(database, { count: 10, model: 'good-model' });
    const supervisor = await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16', {
      env: { ENGINE_START_TIMEOUT_MS: '4000' },
      failing: 'broken-model',
    });
    expect(await waitForBatch(database, first, ['completed'], 30_000)).toBe('completed');
    // The broken model has waited longest: it is the neediest from now on.
    const broken = await insertChatBatch(database, { count: 5, model: 'broken-model' });
    await database.db.execute(sql`update batches set in_progress_at = now() - interval '1 hour' where id = ${broken}`);
    await supervisor.waitFor(/"msg":"switching model"[^\n]*"to":"broken-model"/, 30_000);
    const next = await insertChatBatch(database, { count: 10, model: 'good-model' });
    await supervisor.waitFor(/"msg":"choosing or loading a model failed/, 30_000);
    // Until the good model's engine runs again, nothing is leased: no engine would run it.
    const status = async () =>
      (await rows<{ status: string }>(database.db, sql`select status from workers where status not in ('stopped', 'lost')`))[0]?.status;
    const leased = async () =>
      (
        await rows<{ n: number }>(
          database.db,
          sql`select count(*)::int as n from request_states where batch_id = ${next} and status <> 'queued'`,
        )
      )[0]?.n;
    const seen: number[] = [];
    while ((await status()) !== 'ready') {
      seen.push((await leased()) ?? 0);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBe(0);
    expect(await waitForBatch(database, next, ['completed'], 30_000), supervisor.output()).toBe('completed');
    expect(await queued(database, broken)).toBe(5);
  }, 90_000);

  it('tries the only model with work again within seconds when its engine failed to start', async () => {
    const { database, url } = test();
    await onlyModels(database, ['flaky-start-model']);
    const batchId = await insertChatBatch(database, { count: 20, model: 'flaky-start-model' });
    const dir = mkdtempSync(join(tmpdir(), 'vbs-fail-once-'));
    try {
      // The default check interval: the retry must come from the short pause, not from a fast check.
      const supervisor = await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16', {
        env: { MODEL_CHECK_MS: '5000' },
        failOnce: join(dir, 'failed'),
      });
      await supervisor.waitFor(/"msg":"choosing or loading a model failed/, 20_000);
      const failedAt = Date.now();
      expect(await waitForBatch(database, batchId, ['completed'], 20_000), supervisor.output()).toBe('completed');
      // Passed over for 5 seconds, then loaded: not the minute it once was.
      expect(Date.now() - failedAt).toBeLessThan(20_000);
      expect(supervisor.output()).not.toContain('no enabled model in the registry yet');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says the registry has no enabled model when there is none to load, and stops when asked while it waits for one or loads one', async () => {
    const { database, url } = test();
    await onlyModels(database, []);
    const waiting = await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16');
    await waiting.waitFor(/"msg":"no enabled model in the registry yet; add one/, 20_000);
    expect(await waiting.stop('SIGTERM')).toBe(0);
    expect(waiting.output()).toContain('"msg":"worker stopped"');
    // An engine that takes a minute to load its weights.
    await onlyModels(database, ['slow-load-model']);
    const loading = await fleet(url, '--ttft-ms 5 --tpot-ms 1 --output-tokens 16', { startDelayS: 60 });
    await loading.waitFor(/"msg":"starting engine"/, 20_000);
    expect(await loading.stop('SIGTERM')).toBe(0);
    expect(loading.output()).toContain('"msg":"worker stopped"');
    expect(loading.output()).not.toContain('choosing or loading a model failed');
  });
});
