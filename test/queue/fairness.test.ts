import OpenAI, { toFile } from 'openai';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker } from '../fleet/helpers.ts';
import { requestLines, startGateway, until, waitForStatus, type GatewayProcess } from '../reliability/harness.ts';

/**
 * A slow simulated GPU: 16 sequences at once, 20 ms to the first token and 20 ms per token
 * of 16, about 47 requests a second. Slow on purpose, as real GPUs are: what a newcomer waits
 * for is what the workers already hold (the ranges they leased, at most what each asked for)
 * and the gateway's validation, so the slower the fleet, the smaller that wait is against
 * the big batch's run (on real GPUs, seconds against hours). At 94 requests a second for two
 * GPUs the big batch alone runs about 210 s, and 5% of it is 1,000 of its lines.
 */
const SLOW_GPU = ['--slots', '16', '--ttft-ms', '20', '--tpot-ms', '20', '--output-tokens', '16'];

/** How many of the batch's lines had a result by the time (results.finished_at) given. */
async function resultsBy(database: Database, batchId: string, at: string): Promise<number> {
  const [row] = await rows<{ n: number }>(
    database.db,
    sql`select count(*)::int as n from results where batch_id = ${batchId} and finished_at <= ${at}::timestamptz`,
  );
  return row!.n;
}

/** When the batch was created (submitted). */
async function createdAt(database: Database, batchId: string): Promise<string> {
  const [row] = await rows<{ at: string }>(database.db, sql`select created_at::text as at from batches where id = ${batchId}`);
  return row!.at;
}

/** When the batch's last result was written. */
async function lastResultAt(database: Database, batchId: string): Promise<string> {
  const [row] = await rows<{ at: string }>(database.db, sql`select max(finished_at)::text as at from results where batch_id = ${batchId}`);
  return row!.at;
}

const resultCount = async (database: Database, batchId: string) =>
  (await rows<{ n: number }>(database.db, sql`select count(*)::int as n from results where batch_id = ${batchId}`))[0]!.n;

/**
 * Fair share and deadlines, end to end: a gateway with two API keys (two owners), workers on
 * simulated GPUs, batches submitted through the OpenAI SDK. The assertions are on the order
 * results were written in, never on how long anything took.
 */
describe('the fleet shares itself between owners and serves near deadlines first', () => {
  const test = useTestDatabase();
  let gateway: GatewayProcess;
  const processes: Running[] = [];

  beforeAll(async () => {
    gateway = await startGateway(test().url, { API_KEYS: 'key-alice,key-bob' });
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await gateway?.process.stop();
  });

  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0, timeout: 30_000 });

  async function submit(key: string, count: number, model: string, completionWindow = '24h') {
    const { text } = requestLines({ count, model, prefix: `${key}-${count}` });
    const file = await client(key).files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
    const batch = await client(key).batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: completionWindow as '24h',
    });
    await waitForStatus(client(key), batch.id, ['in_progress', 'completed'], 60_000);
    return batch.id;
  }

  /** Starts `gpus` simulated GPUs serving `model`, one worker each, as a supervisor would on one host. */
  async function startFleet(gpus: number, model: string) {
    for (let gpu = 0; gpu < gpus; gpu++) {
      const sim = await startSim([...SLOW_GPU, '--model', model]);
      processes.push(sim.process);
      processes.push(
        await startWorker({ DATABASE_URL: test().url, ENGINE_URL: sim.url, WORKER_ID: `${model}-gpu${gpu}`, WORKER_GPU: String(gpu) }),
      );
    }
  }

  it("finishes a colleague's 20-line batch before another owner's 20,000-line batch that fills the fleet is 5% done", async () => {
    const { database } = test();
    await startFleet(2, 'fair-model');
    const big = await submit('key-alice', 20_000, 'fair-model');
    // The fleet is full of the big batch: both GPUs hold its ranges, and they have run it long
    // enough (600 lines, about 6 s) to hold what they hold in steady state, not the first
    // leases they took before they knew the engine's pace.
    await until(
      async () =>
        (
          await rows<{ n: number }>(
            database.db,
            sql`select count(distinct lease_owner)::int as n from request_ranges where batch_id = ${big} and lease_owner is not null`,
          )
        )[0]!.n === 2,
      'both workers on the big batch',
    );
    await until(async () => (await resultCount(database, big)) >= 600, '600 results of the big batch', 60_000, 200);

    const small = await submit('key-bob', 20, 'fair-model');
    const done = await waitForStatus(client('key-bob'), small, ['completed'], 60_000);
    expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });

    // Under priority-then-age the small batch would start after the 20,000 lines; under fair
    // share its lines go out with the next ranges, behind only what the workers already hold.
    // From its submission to its last result, the fleet answered fewer than 5% of the big
    // batch's lines: it took less than 5% of the time the big batch runs.
    const before = await resultsBy(database, big, await createdAt(database, small));
    const by = await resultsBy(database, big, await lastResultAt(database, small));
    expect(by - before, `the big batch went from ${before} to ${by} of 20,000 results while the small one ran`).toBeLessThan(1_000);
  }, 180_000);

  it('serves, of two batches of one owner at equal priority, the later one whose window ends first', async () => {
    const { database } = test();
    // Both queued before any GPU serves their model, so the order is the scheduler's alone.
    const early = await submit('key-bob', 1_000, 'deadline-model', '336h');
    const urgent = await submit('key-bob', 40, 'deadline-model', '1h');
    await startFleet(1, 'deadline-model');
    await waitForStatus(client('key-bob'), urgent, ['completed'], 60_000);

    // By age the early batch's 1,000 lines would all come first; by deadline slack (an hour
    // against two weeks) the urgent one goes before it, with at most what the worker took first.
    const earlyDone = await resultsBy(database, early, await lastResultAt(database, urgent));
    expect(earlyDone, `the early batch had ${earlyDone} of 1,000 results when the urgent one's last was written`).toBeLessThan(100);
  }, 180_000);
});
