import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { leaseRequests } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { insertBatch, liveWorkers } from './batch-fixtures.ts';

/**
 * The order in which batches get the next range: priority, then fair share between owners,
 * then deadline. Each lease here takes one 10-line range, by a different worker, so the
 * sequence of batches is the order the fleet would serve them in.
 */
describe.each(DRIVERS)('the order ranges are leased in, on %s', (driver) => {
  const database = useDriverDatabase(driver);

  async function leaseSequence(model: string, leases: number): Promise<string[]> {
    const order: string[] = [];
    for (let i = 0; i < leases; i++) {
      const leased = await leaseRequests(database().db, { owner: `${model}-w${i}`, model, limit: 10, leaseMs: 60_000 });
      order.push(leased[0]?.batchId ?? 'none');
    }
    return order;
  }

  it('serves a higher priority first, however much its owner already holds', async () => {
    const hog = await insertBatch(database(), { count: 100, model: 'm-priority', owner: 'hog', priority: 1, rangeLines: 10 });
    const other = await insertBatch(database(), { count: 20, model: 'm-priority', owner: 'other', rangeLines: 10 });
    expect(await leaseSequence('m-priority', 12)).toEqual([...Array(10).fill(hog), other, other]);
  });

  it('alternates between two owners with equal weights', async () => {
    const alice = await insertBatch(database(), { count: 100, model: 'm-fair', owner: 'alice', rangeLines: 10 });
    const bob = await insertBatch(database(), { count: 30, model: 'm-fair', owner: 'bob', rangeLines: 10 });
    expect(await leaseSequence('m-fair', 8)).toEqual([alice, bob, alice, bob, alice, bob, alice, alice]);
  });

  it('gives an owner with weight 3 three lines in flight for each line of an owner with weight 1', async () => {
    await database().db.execute(sql`insert into owner_weights (owner, weight) values ('carol', 3)`);
    const carol = await insertBatch(database(), { count: 100, model: 'm-weight', owner: 'carol', rangeLines: 10 });
    const dave = await insertBatch(database(), { count: 100, model: 'm-weight', owner: 'dave', rangeLines: 10 });
    expect(await leaseSequence('m-weight', 8)).toEqual([carol, dave, carol, carol, carol, dave, carol, carol]);
  });

  it('serves, within an owner, the batch whose completion window ends first', async () => {
    const late = await insertBatch(database(), { count: 20, model: 'm-deadline', expiresInSeconds: 7200, rangeLines: 10 });
    const soon = await insertBatch(database(), { count: 20, model: 'm-deadline', expiresInSeconds: 600, rangeLines: 10 });
    expect(await leaseSequence('m-deadline', 4)).toEqual([soon, soon, late, late]);
  });

  it("weighs the deadline against the work left at the fleet's observed throughput", async () => {
    await liveWorkers(database(), 'm-throughput', 1, 1);
    // 3,000 lines at 1 line/s leave 600 s to spare of 3,600; 20 lines leave 1,180 s of 1,200.
    const big = await insertBatch(database(), { count: 3000, model: 'm-throughput', expiresInSeconds: 3600, rangeLines: 10 });
    const small = await insertBatch(database(), { count: 20, model: 'm-throughput', expiresInSeconds: 1200, rangeLines: 10 });
    const order = await leaseSequence('m-throughput', 2);
    expect(order).toEqual([big, big]);
    expect(order).not.toContain(small);
  });
});
