import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { CANCEL_CHANNEL, cancelBatch, COMPLETED, RANGE_SUMS, rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, freePort, start, type Running } from '../helpers/processes.ts';
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

describe('engine faults and cancellation', () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  it('ends every request in success after retries or in a clear error when the engine errs, throttles, hangs, stalls and disconnects', async () => {
    const { database, url } = test();
    const faults = [
      '--error-rate',
      '0.15',
      '--rate-limit-rate',
      '0.1',
      '--hang-rate',
      '0.05',
      '--stall-rate',
      '0.05',
      '--disconnect-rate',
      '0.1',
      '--seed',
      '3',
    ];
    const sim = await startSim(['--slots', '64', ...faults]);
    processes.push(sim.process);
    const batchId = await insertChatBatch(database, { count: 300 });
    processes.push(
      await startWorker({
        DATABASE_URL: url,
        ENGINE_URL: sim.url,
        ENGINE_CONNECT_TIMEOUT_MS: '300',
        ENGINE_FIRST_TOKEN_TIMEOUT_MS: '300',
        ENGINE_STALL_TIMEOUT_MS: '300',
        ENGINE_MAX_RETRIES: '1',
      }),
    );
    expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(300));
    const { output, errors } = await resultFiles(database, batchId);
    // With one retry and ~45% faulty calls, most requests succeed on the first or second try and some fail twice.
    expect(output.length).toBeGreaterThan(150);
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) {
      expect(line.error?.code).toBe('engine_error');
      expect(line.error?.message).toMatch(
        /^The engine failed this request 2 times \(retried with backoff\); the last failure: (the engine answered (500|429)|no first token|the stream stalled for 300 ms|the stream broke|the stream ended before|the engine closed the connection before it answered)/,
      );
      // A last failure that was the engine's answer keeps it: its status and body, as the engine sent them.
      if (/the engine answered (500|429)/.test(line.error?.message ?? '')) {
        expect(line.response?.status_code).toBeOneOf([500, 429]);
        expect(line.response?.body).toMatchObject({ error: { code: line.response?.status_code } });
      } else expect(line.response).toBeNull();
    }
  });

  it('restarts an owned engine that crashes, and the batch completes', async () => {
    const { database, url } = test();
    await database.db.execute(sql`insert into models (name, source) values ('crashy-model', 'org/crashy')`);
    const batchId = await insertChatBatch(database, { count: 1000, model: 'crashy-model' });
    const engineCmd = `${BUN} fleet/entry/sim.ts --model {name} --port {port} --ttft-ms 5 --tpot-ms 1 --output-tokens 16 --slots 64 --crash-after 600`;
    const supervisor = start(
      BUN,
      ['fleet/entry/supervisor.ts', '--gpus', '0', '--engine-cmd', engineCmd, '--engine-port', String(await freePort())],
      {
        env: { ...FAST_WORKER_ENV, DATABASE_URL: url },
      },
    );
    processes.push(supervisor);
    try {
      expect(await waitForBatch(database, batchId, ['completed'], 25_000)).toBe('completed');
    } catch (error) {
      throw new Error(`${String(error)}\n--- supervisor, worker and engine log (tail) ---\n${supervisor.output().slice(-8000)}`);
    }
    expect(await answeredIds(database, batchId)).toEqual(expectedIds(1000));
    expect(supervisor.output()).toContain('"msg":"engine exited; restarting it"');
    expect(await supervisor.stop('SIGTERM')).toBe(0);
  });

  it('aborts the in-flight streams of a cancelled batch, freeing the engine, and keeps finished results', async () => {
    const { database, url } = test();
    const sim = await startSim(['--slots', '64', '--tpot-ms', '20', '--output-tokens', '2000']);
    processes.push(sim.process);
    const quick = await insertChatBatch(database, { count: 5, maxTokens: 1 });
    const batchId = await insertChatBatch(database, { count: 30 });
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url, HEARTBEAT_MS: '60000' }));
    expect(await waitForBatch(database, quick, ['completed'], 30_000)).toBe('completed');
    await eventually(async () => (await simMetrics(sim.url)).running === 30, 30_000, '30 streams running');
    const outcome = await cancelBatch(database.db, batchId, 'local');
    expect(outcome.kind).toBe('cancelling');
    // The NOTIFY makes the worker beat at once: the heartbeat is a minute away.
    await database.notify(CANCEL_CHANNEL, batchId);
    await eventually(async () => (await simMetrics(sim.url)).running === 0, 10_000, 'the engine to be free');
    expect((await simMetrics(sim.url)).aborted).toBe(30);
    expect(await waitForBatch(database, batchId, ['cancelled'], 10_000)).toBe('cancelled');
    const { output, errors } = await resultFiles(database, batchId);
    expect(output).toEqual([]);
    expect(errors.map((e) => e.error?.code)).toEqual(Array(30).fill('batch_cancelled'));
    const [quickRow] = await rows<{ completed: number }>(
      database.db,
      sql`select ${COMPLETED} as completed from batches b ${RANGE_SUMS} where b.id = ${quick}`,
    );
    expect(quickRow?.completed).toBe(5);
  });
});
