import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createFleetSampler } from '../../gateway/charts/fleet-sampler.ts';
import { rows, type Database } from '../../schema/index.ts';
import { batchProgressCurve } from '../../schema/sql/batch-progress-curve.ts';
import { fleetHistory } from '../../schema/sql/fleet-history.ts';
import { pruneFleetSamples, sampleFleet, sampleFleetStatement } from '../../schema/sql/sample-fleet.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

const logger = createLogger({ level: 'silent' });

async function batch(database: Database, id: string, model: string, total: number) {
  await database.db.execute(sql`
    insert into batches (id, owner, endpoint, completion_window, status, input_file_id, model, total, expires_at, in_progress_at)
    values (${id}, 'o', '/v1/chat/completions', '24h', 'in_progress', 'file-x', ${model}, ${total}, now() + interval '1 day', now() - interval '1 minute')`);
}

/** The samples of one model: time and totals, oldest first. */
const samplesOf = (database: Database, model: string) =>
  rows<{ atMs: number; finished: number; failed: number; tokens: number; queued: number }>(
    database.db,
    sql`select (extract(epoch from at) * 1000)::float8 as "atMs", finished::float8 as "finished", failed::float8 as "failed",
          (prompt_tokens + completion_tokens)::float8 as "tokens", queued::float8 as "queued"
        from fleet_samples where model = ${model} order by at`,
  );

describe.each(DRIVERS)('the fleet sampler and fleetHistory on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('writes one sample per slot when two gateways sample it, with the totals and the queue of each model', async () => {
    // A model's ranges: one finished (3 run, 1 of them failed), one open with 2 of 5 answered, one leased.
    await batch(database(), 'b-two', 'two-gateways', 12);
    await database().db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, prompt_tokens, completion_tokens, finished_at, lease_owner, lease_expires_at)
      values ('b-two', 'two-gateways', 'o', 1, 3, 3, 2, 1, 30, 60, now(), null, null),
             ('b-two', 'two-gateways', 'o', 4, 8, 5, 2, 0, 20, 40, null, null, null),
             ('b-two', 'two-gateways', 'o', 9, 12, 4, 0, 0, 0, 0, null, 'w1', now() + interval '1 minute')`);
    // An hour-long slot: both samples fall in one slot whenever the test runs.
    const gateways = [1, 2].map(() => createFleetSampler({ database: database(), logger, slotSeconds: 3600 }));
    await Promise.all(gateways.map((g) => g.sample()));
    await Promise.all(gateways.map((g) => g.sample()));
    const samples = await samplesOf(database(), 'two-gateways');
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ finished: 5, failed: 1, tokens: 150, queued: 3 });
  });

  it('checks the slot first: a sampler of a taken slot skips it without reading a range', async () => {
    await batch(database(), 'b-taken', 'taken-slot', 2);
    await database().db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size)
      values ('b-taken', 'taken-slot', 'o', 1, 2, 2)`);
    // A slot of a day: both calls fall in one slot whenever the test runs (but at midnight UTC).
    const first = await sampleFleet(database().db, 86400);
    expect(first).not.toBe('skipped');
    expect(await sampleFleet(database().db, 86400)).toBe('skipped');
    // The plan of the statement with the slot taken (EXPLAIN ANALYZE runs it, and it writes nothing):
    // every node that reads request_ranges is under the slot's One-Time Filter and never runs.
    const plan = await rows<{ 'QUERY PLAN': string }>(
      database().db,
      sql`explain (analyze, costs off, timing off) ${sampleFleetStatement(86400)}`,
    );
    const ranges = plan.map((l) => l['QUERY PLAN']).filter((l) => l.includes('request_ranges'));
    expect(ranges.length).toBeGreaterThan(0);
    for (const line of ranges) expect(line).toContain('never executed');
  });

  it('leaves out models idle for an hour, and deletes samples older than a day', async () => {
    await batch(database(), 'b-idle', 'idle-model', 2);
    await database().db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, finished_at)
      values ('b-idle', 'idle-model', 'o', 1, 2, 2, 2, now() - interval '2 hours')`);
    await database().db.execute(sql`
      insert into fleet_samples (at, model, finished, failed, prompt_tokens, completion_tokens, queued)
      values (now() - interval '25 hours', 'old-model', 1, 0, 1, 1, 0), (now() - interval '23 hours', 'old-model', 2, 0, 2, 2, 0)`);
    await sampleFleet(database().db, 7);
    expect(await samplesOf(database(), 'idle-model')).toEqual([]);
    expect(await pruneFleetSamples(database().db)).toBe(1);
    expect((await samplesOf(database(), 'old-model')).map((s) => s.finished)).toEqual([2]);
  });

  it('gives rates from the differences of consecutive samples, none across a gap', async () => {
    // Samples 10 s apart, then one five minutes after the last: a gap makes no rate.
    await database().db.execute(sql`
      insert into fleet_samples (at, model, finished, failed, prompt_tokens, completion_tokens, queued)
      values (date_trunc('second', now()) - interval '400 seconds', 'rated', 100, 1, 1000, 2000, 50),
             (date_trunc('second', now()) - interval '390 seconds', 'rated', 120, 3, 1400, 2600, 40),
             (date_trunc('second', now()) - interval '380 seconds', 'rated', 150, 3, 2000, 3000, 30),
             (date_trunc('second', now()) - interval '80 seconds', 'rated', 160, 3, 2100, 3100, 0)`);
    const [series] = (await fleetHistory(database().db, { minutes: 60 })).filter((s) => s.model === 'rated');
    expect(series!.points.map(({ atMs, ...rest }) => rest)).toEqual([
      { requestsPerSecond: null, failedPerSecond: null, tokensPerSecond: null, completionTokensPerSecond: null, queued: 50 },
      { requestsPerSecond: 2, failedPerSecond: 0.2, tokensPerSecond: 100, completionTokensPerSecond: 60, queued: 40 },
      { requestsPerSecond: 3, failedPerSecond: 0, tokensPerSecond: 100, completionTokensPerSecond: 40, queued: 30 },
      { requestsPerSecond: null, failedPerSecond: null, tokensPerSecond: null, completionTokensPerSecond: null, queued: 0 },
    ]);
    // Only the last minutes: the first three samples are older than 5 minutes.
    const [recent] = (await fleetHistory(database().db, { minutes: 5 })).filter((s) => s.model === 'rated');
    expect(recent!.points).toHaveLength(1);
  });

  it('samples what workers finish between two slots into a rate', async () => {
    await batch(database(), 'b-live', 'live-model', 100);
    await database().db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size) values ('b-live', 'live-model', 'o', 1, 100, 100)`);
    const sampler = createFleetSampler({ database: database(), logger, slotSeconds: 1 });
    // Samples until the model has `n` (a slot an earlier test wrote is not written again).
    const sampled = async (n: number) => {
      while ((await samplesOf(database(), 'live-model')).length < n) {
        await sampler.sample();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    await sampled(1);
    // Workers write 20 results (40 tokens each) before the next slot.
    await database().db.execute(sql`
      update request_ranges set succeeded = 20, prompt_tokens = 400, completion_tokens = 400 where batch_id = 'b-live'`);
    const first = (await samplesOf(database(), 'live-model'))[0]!;
    await sampled(2);
    const second = (await samplesOf(database(), 'live-model'))[1]!;
    expect(first.queued).toBe(100);
    expect(second.queued).toBe(80);
    const seconds = (second.atMs - first.atMs) / 1000;
    const [series] = (await fleetHistory(database().db, { minutes: 60 })).filter((s) => s.model === 'live-model');
    expect(series!.points.at(-1)).toMatchObject({ requestsPerSecond: 20 / seconds, tokensPerSecond: 800 / seconds, queued: 80 });
  });

  it("draws a batch's progress curve from its results, cumulative, leaving out lines it closed without running", async () => {
    await batch(database(), 'b-curve', 'curve-model', 6);
    await database().db.execute(sql`
      insert into results (batch_id, line, status, finished_at)
      values ('b-curve', 1, 'succeeded', now() - interval '100 seconds'), ('b-curve', 2, 'failed', now() - interval '99 seconds'),
             ('b-curve', 3, 'succeeded', now() - interval '50 seconds'), ('b-curve', 4, 'succeeded', now()),
             ('b-curve', 5, 'cancelled', now()), ('b-curve', 6, 'expired', now())`);
    const curve = await batchProgressCurve(database().db, 'b-curve', 10);
    expect(curve.map(({ finished, failed }) => ({ finished, failed }))).toEqual([
      { finished: 2, failed: 1 },
      { finished: 3, failed: 1 },
      { finished: 4, failed: 1 },
    ]);
    expect(curve.map((p) => p.atMs)).toEqual([...curve.map((p) => p.atMs)].sort((a, b) => a - b));
    expect(await batchProgressCurve(database().db, 'no-such-batch')).toEqual([]);
  });
});
