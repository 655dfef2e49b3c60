import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  completeRequests,
  heartbeatLeases,
  leaseRequests,
  markLostWorkers,
  modelDemand,
  reapLeases,
  registerWorker,
  releaseRequests,
  rows,
  settleBatch,
  stopRequests,
  workersOnGpu,
  type Database,
  type RequestResult,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { insertBatch } from '../queue/batch-fixtures.ts';

const ok = (id: number, tokens = 5): RequestResult => ({
  id,
  status: 'succeeded',
  statusCode: 200,
  response: JSON.stringify({ id: `chatcmpl-${id}`, object: 'chat.completion', choices: [] }),
  engineRequestId: `chatcmpl-${id}`,
  error: null,
  promptTokens: 3,
  completionTokens: tokens,
});

const statuses = (database: Database, batchId: string) =>
  rows<{ status: string; n: number }>(
    database.db,
    sql`select status, count(*)::int as n from requests where batch_id = ${batchId} group by status order by status`,
  );

const expireLeases = (database: Database, owner: string) =>
  database.db.execute(sql`update requests set lease_expires_at = now() - interval '1 second' where lease_owner = ${owner} and status = 'leased'`);

describe.each(DRIVERS)('the fleet queue statements on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('writes results only under the lease and returns the bumped batch counters', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 3, model: 'm-complete' });
    const leased = await leaseRequests(db, { owner: 'w1', model: 'm-complete', limit: 3, leaseMs: 6000 });
    const [a, b, c] = leased.map((r) => r.id) as [number, number, number];
    const counters = await completeRequests(db, 'w1', [
      ok(a, 7),
      { ...ok(b), status: 'failed', statusCode: 400, response: '{"error":{"message":"bad"}}', completionTokens: 0 },
    ]);
    expect(counters).toEqual([
      expect.objectContaining({ batchId, owner: 'local', status: 'in_progress', total: 3, completed: 1, failed: 1, promptTokens: 6, completionTokens: 7, written: 2 }),
    ]);
    expect(await completeRequests(db, 'someone-else', [ok(c)])).toEqual([]);
    expect(await statuses(database(), batchId)).toEqual([
      { status: 'failed', n: 1 },
      { status: 'leased', n: 1 },
      { status: 'succeeded', n: 1 },
    ]);
  });

  it('does not let a worker whose lease was reaped write a duplicate', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 1, model: 'm-lost' });
    const [first] = await leaseRequests(db, { owner: 'slow', model: 'm-lost', limit: 1, leaseMs: 6000 });
    await expireLeases(database(), 'slow');
    expect(await reapLeases(db, { maxAttempts: 5 })).toEqual([{ batchId, model: 'm-lost', status: 'queued', n: 1 }]);
    const [second] = await leaseRequests(db, { owner: 'fast', model: 'm-lost', limit: 1, leaseMs: 6000 });
    expect(second?.id).toBe(first?.id);
    expect(second?.attempts).toBe(2);
    expect(await completeRequests(db, 'slow', [ok(first!.id)])).toEqual([]);
    const [counters] = await completeRequests(db, 'fast', [ok(second!.id)]);
    expect(counters).toMatchObject({ completed: 1, failed: 0, total: 1 });
    expect(await settleBatch(db, batchId)).toEqual([
      expect.objectContaining({ from: 'in_progress', to: 'finalizing' }),
      expect.objectContaining({ from: 'finalizing', to: 'completed' }),
    ]);
  });

  it('fails a request after the attempt limit instead of queueing it again', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 2, model: 'm-poison' });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await leaseRequests(db, { owner: `crashy-${attempt}`, model: 'm-poison', limit: 2, leaseMs: 6000 });
      await expireLeases(database(), `crashy-${attempt}`);
      await reapLeases(db, { maxAttempts: 3 });
    }
    expect(await statuses(database(), batchId)).toEqual([{ status: 'failed', n: 2 }]);
    const [request] = await rows<{ error: { code: string; message: string } }>(db, sql`select error from requests where batch_id = ${batchId} limit 1`);
    expect(request?.error.code).toBe('too_many_attempts');
    expect(request?.error.message).toContain('leased 3 times');
    const [batch] = await rows<{ failed: number }>(db, sql`select failed from batches where id = ${batchId}`);
    expect(batch?.failed).toBe(2);
  });

  it('extends leases and flags the ones whose batch is cancelling', async () => {
    const db = database().db;
    const keep = await insertBatch(database(), { count: 1, model: 'm-hb' });
    const cancel = await insertBatch(database(), { count: 2, model: 'm-hb' });
    const leased = await leaseRequests(db, { owner: 'hb', model: 'm-hb', limit: 3, leaseMs: 1000 });
    await db.execute(sql`update batches set status = 'cancelling' where id = ${cancel}`);
    const held = await heartbeatLeases(db, { owner: 'hb', leaseMs: 60_000, ids: [...leased.map((r) => r.id), 999_999] });
    expect(held).toHaveLength(3);
    expect(await heartbeatLeases(db, { owner: 'not-hb', leaseMs: 60_000, ids: leased.map((r) => r.id) })).toEqual([]);
    const stopping = held.filter((h) => h.stop === 'cancelled').map((h) => h.id);
    expect(stopping).toHaveLength(2);
    const [left] = await rows<{ ms: number }>(
      db,
      sql`select min(extract(epoch from lease_expires_at - now()) * 1000)::float8 as ms from requests where lease_owner = 'hb'`,
    );
    expect(left!.ms).toBeGreaterThan(30_000);
    expect(await stopRequests(db, 'hb', stopping)).toEqual([cancel]);
    expect(await statuses(database(), cancel)).toEqual([{ status: 'cancelled', n: 2 }]);
    expect(await settleBatch(db, cancel)).toEqual([expect.objectContaining({ from: 'cancelling', to: 'cancelled' })]);
    expect(await statuses(database(), keep)).toEqual([{ status: 'leased', n: 1 }]);
  });

  it('releases a draining worker\'s leases with the attempt refunded', async () => {
    const db = database().db;
    const batchId = await insertBatch(database(), { count: 2, model: 'm-release' });
    await leaseRequests(db, { owner: 'drainer', model: 'm-release', limit: 2, leaseMs: 6000 });
    expect(await releaseRequests(db, { owner: 'drainer', refundAttempt: true, maxAttempts: 1 })).toEqual([
      { batchId, model: 'm-release', status: 'queued', n: 2 },
    ]);
    const attempts = await rows<{ attempts: number; status: string }>(db, sql`select attempts, status from requests where batch_id = ${batchId}`);
    expect(attempts).toEqual([
      { attempts: 0, status: 'queued' },
      { attempts: 0, status: 'queued' },
    ]);
  });

  it('registers workers, finds a dead predecessor on the same GPU, and marks silent ones lost', async () => {
    const db = database().db;
    const base = { host: 'h1', gpu: '0', runtime: 'bun', model: 'm', engineUrl: 'http://e', status: 'ready' };
    await registerWorker(db, { ...base, id: 'old', pid: 111 });
    await registerWorker(db, { ...base, id: 'new', pid: 222 });
    expect(await workersOnGpu(db, { host: 'h1', gpu: '0', except: 'new' })).toEqual([{ id: 'old', pid: 111 }]);
    await db.execute(sql`update workers set heartbeat_at = now() - interval '1 minute' where id = 'old'`);
    expect(await markLostWorkers(db, { staleMs: 10_000 })).toEqual([{ id: 'old', host: 'h1', gpu: '0', model: 'm' }]);
    expect(await markLostWorkers(db, { staleMs: 10_000 })).toEqual([]);
  });

  it('reports each enabled model\'s queue and the workers serving it', async () => {
    const db = database().db;
    await db.execute(sql`insert into models (name, source) values ('demand-a', 'org/a'), ('demand-b', 'org/b')`);
    await db.execute(sql`insert into models (name, source, enabled) values ('demand-off', 'org/off', false)`);
    await insertBatch(database(), { count: 4, model: 'demand-b' });
    await registerWorker(db, { id: 'serving-a', host: 'h2', gpu: '0', pid: 1, runtime: 'bun', model: 'demand-a', engineUrl: 'http://e', status: 'ready' });
    const demand = await modelDemand(db, { except: 'me', liveMs: 15_000 });
    expect(demand.map(({ name, queued, servingWorkers }) => ({ name, queued, servingWorkers }))).toEqual([
      { name: 'demand-a', queued: 0, servingWorkers: 1 },
      { name: 'demand-b', queued: 4, servingWorkers: 0 },
    ]);
  });
});
