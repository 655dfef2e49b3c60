import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { leaseRequests, reapLeases, registerWorker, rows, workerConnectionName, type Database } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { insertBatch } from '../queue/batch-fixtures.ts';

const leaseFor = async (database: Database, owner: string, model: string, connectionName: string | null) => {
  await registerWorker(database.db, {
    id: owner,
    host: 'h',
    gpu: '0',
    pid: 1,
    runtime: 'bun',
    model,
    engineUrl: 'http://e',
    status: 'ready',
    connectionName,
  });
  await insertBatch(database, { count: 2, model });
  // A lease far from expiry, and a heartbeat already late.
  await leaseRequests(database.db, { owner, model, limit: 2, leaseMs: 60_000 });
  await database.db.execute(sql`update workers set heartbeat_at = now() - interval '10 seconds' where id = ${owner}`);
};

const leasedBy = async (database: Database, owner: string) =>
  (
    await rows<{ n: number }>(
      database.db,
      sql`select count(*)::int as n from request_states where lease_owner = ${owner} and status = 'leased'`,
    )
  )[0]?.n;

describe('reaping the leases of a worker that left no connection behind', () => {
  const test = useTestDatabase();
  const clients: postgres.Sql[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
  });

  it('returns them at once, long before they expire', async () => {
    const { database } = test();
    await leaseFor(database, 'killed-worker', 'm-killed', workerConnectionName('killed-worker'));
    const returned = await reapLeases(database.db, { maxAttempts: 5, orphanGraceMs: 3000 });
    // Another test's killed worker may have left leases of its own model to reap as well.
    expect(returned.filter((r) => r.model === 'm-killed')).toEqual([expect.objectContaining({ status: 'queued', n: 2 })]);
    expect(await leasedBy(database, 'killed-worker')).toBe(0);
  });

  it('leaves alone a worker whose connection is still open, however late its heartbeat', async () => {
    const { database, url } = test();
    const name = workerConnectionName('slow-worker');
    const connection = postgres(url, { max: 1, connection: { application_name: name }, onnotice: () => {} });
    clients.push(connection);
    await connection`select 1`;
    await leaseFor(database, 'slow-worker', 'm-slow', name);
    await reapLeases(database.db, { maxAttempts: 5, orphanGraceMs: 3000 });
    expect(await leasedBy(database, 'slow-worker')).toBe(2);
  });

  it('waits for expiry for a worker without connections of its own, and when not asked to look', async () => {
    const { database } = test();
    await leaseFor(database, 'embedded-worker', 'm-embedded', null);
    await reapLeases(database.db, { maxAttempts: 5, orphanGraceMs: 3000 });
    expect(await leasedBy(database, 'embedded-worker')).toBe(2);
    await leaseFor(database, 'another-killed-worker', 'm-other', workerConnectionName('another-killed-worker'));
    expect(await reapLeases(database.db, { maxAttempts: 5 })).toEqual([]);
    expect(await leasedBy(database, 'another-killed-worker')).toBe(2);
  });
});
