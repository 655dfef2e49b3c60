import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { leaseRequests, leaseRequestsSql, requests, rows, type Database } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase, useTestDatabase } from '../helpers/database.ts';

async function enqueue(database: Database, batchId: string, model: string, count: number, priority = 0) {
  await database.db.insert(requests).values(
    Array.from({ length: count }, (_, i) => ({
      batchId,
      line: i + 1,
      customId: `${batchId}-${i + 1}`,
      model,
      priority,
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `hi ${i}` }] }),
    })),
  );
}

describe.each(DRIVERS)('leasing requests on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('leases queued requests of one model, best priority first, then oldest', async () => {
    await enqueue(database(), 'batch_low', 'm1', 3, 0);
    await enqueue(database(), 'batch_high', 'm1', 2, 5);
    await enqueue(database(), 'batch_other', 'm2', 2, 9);
    const leased = await leaseRequests(database().db, { owner: 'w1', model: 'm1', limit: 4, leaseMs: 5000 });
    expect(leased.map((r) => r.customId)).toEqual(['batch_high-1', 'batch_high-2', 'batch_low-1', 'batch_low-2']);
    expect(leased.every((r) => r.attempts === 1 && r.model === 'm1')).toBe(true);
  });

  it('never hands the same request to two workers', async () => {
    const a = await leaseRequests(database().db, { owner: 'w2', model: 'm1', limit: 10, leaseMs: 5000 });
    const b = await leaseRequests(database().db, { owner: 'w3', model: 'm1', limit: 10, leaseMs: 5000 });
    expect(a.map((r) => r.customId)).toEqual(['batch_low-3']);
    expect(b).toEqual([]);
    const owners = await rows<{ lease_owner: string; n: number }>(
      database().db,
      sql`select lease_owner, count(*)::int as n from requests where model = 'm1' group by lease_owner order by lease_owner`,
    );
    expect(owners).toEqual([
      { lease_owner: 'w1', n: 4 },
      { lease_owner: 'w2', n: 1 },
    ]);
  });
});

describe('the lease query plan on Postgres', () => {
  const test = useTestDatabase();

  it('is an index scan on queued requests, not a scan of the table', async () => {
    const { database } = test();
    await database.db.execute(sql`
      insert into requests (batch_id, line, custom_id, model, body, status)
      select 'b' || (g / 1000), g, 'c' || g, case when g % 2 = 0 then 'm1' else 'm2' end, '{}',
             case when g < 40000 then 'succeeded' else 'queued' end
      from generate_series(1, 50000) g`);
    await database.db.execute(sql`analyze requests`);
    const plan = await rows<{ 'QUERY PLAN': string }>(
      database.db,
      sql`explain ${leaseRequestsSql({ owner: 'w', model: 'm1', limit: 256, leaseMs: 5000 })}`,
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan using requests_queue_idx/);
    expect(text).not.toMatch(/Seq Scan|Sort/);
  });
});
