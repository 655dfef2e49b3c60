import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { COMPLETED, COMPLETION_TOKENS, FAILED, RANGE_SUMS, rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, freePortPair, start, type Running } from '../helpers/processes.ts';
import {
  answeredIds,
  eventually,
  expectedIds,
  FAST_WORKER_ENV,
  insertChatBatch,
  resultFiles,
  simMetrics,
  startSim,
  startWorker,
  waitForBatch,
} from './helpers.ts';

describe('the worker', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it('completes a 2,000-request batch with every custom_id exactly once in the output', async () => {
    const { database, url } = test();
    const sim = await startSim(['--slots', '256']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 2000 });
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url }));
    // Its heartbeat reports how fast it finishes requests: the queue's deadlines and the estimates read it.
    const rate = async () =>
      (await rows<{ rate: number }>(database.db, sql`select max(completion_rate)::float8 as rate from workers`))[0]?.rate ?? 0;
    await eventually(async () => (await rate()) > 0, 30_000, "a completion rate in the worker's row");
    expect(await waitForBatch(database, batchId, ['completed', 'failed', 'expired'], 90_000)).toBe('completed');
    const { output, errors } = await resultFiles(database, batchId);
    expect(errors).toEqual([]);
    expect(output.map((l) => l.custom_id).sort()).toEqual(expectedIds(2000));
    const first = output[0];
    expect(first?.response?.status_code).toBe(200);
    expect(first?.response?.body).toMatchObject({
      object: 'chat.completion',
      choices: [{ message: { role: 'assistant', content: expect.any(String) }, finish_reason: expect.stringMatching(/stop|length/) }],
      usage: { completion_tokens: expect.any(Number) },
    });
    const [counters] = await rows<{ completed: number; failed: number; completion_tokens: number; tokens: number }>(
      database.db,
      sql`select ${COMPLETED} as completed, ${FAILED} as failed, ${COMPLETION_TOKENS}::int as completion_tokens, (select sum(completion_tokens)::int from results x where x.batch_id = b.id) as tokens
          from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
    );
    expect(counters).toMatchObject({ completed: 2000, failed: 0 });
    expect(counters?.completion_tokens).toBe(counters?.tokens);
    expect((await simMetrics(sim.url)).requests).toBe(2000);
  });

  it("fails a request the engine rejects with the engine's 4xx, and finishes the rest", async () => {
    const { database, url } = test();
    const sim = await startSim();
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, {
      count: 20,
      bodies: { 7: { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: -1 } },
    });
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url }));
    expect(await waitForBatch(database, batchId, ['completed'], 30_000)).toBe('completed');
    const { output, errors } = await resultFiles(database, batchId);
    expect(output).toHaveLength(19);
    expect(errors).toEqual([
      expect.objectContaining({
        custom_id: 'req-7',
        error: null,
        response: expect.objectContaining({
          status_code: 400,
          body: { error: expect.objectContaining({ type: 'BadRequestError', param: 'max_tokens' }) },
        }),
      }),
    ]);
  });

  it('hands requests back to the queue, unfailed, when its engine does not serve their model', async () => {
    const { database, url } = test();
    const sim = await startSim(['--model', 'another-model']);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 5, model: 'model-elsewhere' });
    const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, WORKER_MODEL: 'model-elsewhere' });
    processes.push(worker);
    await worker.waitFor(/"msg":"the engine does not serve this model/);
    await eventually(
      async () => {
        const states = await rows<{ status: string; attempts: number; n: number }>(
          database.db,
          sql`select status, attempts, count(*)::int as n from request_states where batch_id = ${batchId} group by 1, 2`,
        );
        return states.length === 1 && states[0]?.status === 'queued' && states[0]?.attempts === 0 && states[0]?.n === 5;
      },
      10_000,
      'every request back in the queue',
    );
  });

  it('lets two workers on two simulated GPUs share one batch', async () => {
    const { database, url } = test();
    const sims = [await startSim(['--slots', '32', '--tpot-ms', '2']), await startSim(['--slots', '32', '--tpot-ms', '2'])];
    processes.push(...sims.map((s) => s.process));
    const batchId = await insertChatBatch(database, { count: 600 });
    const metricsPort = await freePortPair();
    const supervisor = start(
      BUN,
      [
        'fleet/entry/supervisor.ts',
        '--gpus',
        '0,1',
        '--engine-url',
        sims.map((s) => s.url).join(','),
        '--host',
        'test-host',
        '--metrics-port',
        String(metricsPort),
      ],
      {
        env: { ...FAST_WORKER_ENV, DATABASE_URL: url },
      },
    );
    processes.push(supervisor);
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(600));
    // Each worker finished some of it, as its heartbeat reports.
    const finishedBy = async () =>
      (await rows<{ gpu: string }>(database.db, sql`select gpu from workers where host = 'test-host' and completed > 0 order by gpu`))
        .map((w) => w.gpu)
        .join();
    await eventually(async () => (await finishedBy()) === '0,1', 10_000, 'both workers to report finished requests');
    for (const sim of sims) expect((await simMetrics(sim.url)).requests).toBeGreaterThan(0);
    // --metrics-port BASE: worker i serves its own Prometheus metrics on BASE + i.
    for (const [i, gpu] of ['0', '1'].entries()) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort + i}/metrics`)).text();
      expect(text).toMatch(new RegExp(`vbs_worker_info\\{[^}]*gpu="${gpu}"`));
      expect(Number(text.match(/vbs_worker_requests_completed_total\{model="sim-model"\} (\d+)/)?.[1])).toBeGreaterThan(0);
      expect(Number(text.match(/vbs_worker_result_write_duration_seconds_count (\d+)/)?.[1])).toBeGreaterThan(0);
    }
    const workers = await rows<{ host: string; gpu: string; engine_url: string; status: string }>(
      database.db,
      sql`select host, gpu, engine_url, status from workers order by gpu`,
    );
    expect(workers.filter((w) => w.host === 'test-host').map((w) => [w.gpu, w.engine_url, w.status])).toEqual([
      ['0', sims[0]?.url, 'ready'],
      ['1', sims[1]?.url, 'ready'],
    ]);
    expect(await supervisor.stop('SIGTERM')).toBe(0);
    const stopped = await rows<{ status: string }>(database.db, sql`select status from workers where host = 'test-host'`);
    expect(stopped.map((w) => w.status)).toEqual(['stopped', 'stopped']);
  });
});
