import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { batches, cutRanges, leaseRequests, newId, pauseBatch, requests, resumeBatch, rows, type Database } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

/** An in_progress batch of `count` queued lines of its own model, cut into ranges as ingest leaves it. */
async function queuedBatch(database: Database, model: string, count = 5, status: 'in_progress' | 'validating' = 'in_progress') {
  const id = newId('batch_');
  await database.db.insert(batches).values({
    id,
    owner: 'alice',
    endpoint: '/v1/chat/completions',
    model,
    completionWindow: '24h',
    status,
    inputFileId: newId('file-'),
    total: count,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  await database.db
    .insert(requests)
    .values(Array.from({ length: count }, (_, i) => ({ batchId: id, line: i + 1, customId: `r${i + 1}`, model, body: '{}' })));
  await cutRanges(database.db, id);
  return id;
}

for (const driver of DRIVERS) {
  describe(`pause and resume statements (${driver})`, () => {
    const database = useDriverDatabase(driver);

    it('pauses once, keeps the first paused_at, and resumes with the models to wake', async () => {
      const model = `m-${newId('x')}`;
      const id = await queuedBatch(database(), model);
      const first = await pauseBatch(database().db, id, 'alice');
      expect(first).toMatchObject({ kind: 'done', changed: true, pausedAtMs: expect.any(Number) });
      const again = await pauseBatch(database().db, id, 'alice');
      expect(again).toMatchObject({ kind: 'done', changed: false });
      expect(again.kind === 'done' && first.kind === 'done' && again.pausedAtMs === first.pausedAtMs).toBe(true);
      expect(await leaseRequests(database().db, { owner: 'w', model, limit: 10, leaseMs: 60_000 })).toEqual([]);

      expect(await resumeBatch(database().db, id, 'alice')).toEqual({ kind: 'done', changed: true, pausedAtMs: null, models: [model] });
      expect(await resumeBatch(database().db, id, 'alice')).toMatchObject({ kind: 'done', changed: false });
      expect(await leaseRequests(database().db, { owner: 'w', model, limit: 10, leaseMs: 60_000 })).toHaveLength(5);
    });

    it('finds no batch of another owner, and refuses a batch that has ended', async () => {
      const id = await queuedBatch(database(), `m-${newId('x')}`);
      expect(await pauseBatch(database().db, id, 'bob')).toEqual({ kind: 'not_found' });
      expect(await resumeBatch(database().db, id, 'bob')).toEqual({ kind: 'not_found' });
      await database().db.execute(sql`update batches set status = 'completed' where id = ${id}`);
      expect(await pauseBatch(database().db, id, 'alice')).toEqual({ kind: 'not_running', status: 'completed' });
      expect(await resumeBatch(database().db, id, 'alice')).toEqual({ kind: 'not_running', status: 'completed' });
      const [row] = await rows<{ paused: boolean }>(
        database().db,
        sql`select paused_at is not null as paused from batches where id = ${id}`,
      );
      expect(row?.paused).toBe(false);
    });

    it('keeps a batch paused while it is validated: once in_progress it is still passed over', async () => {
      const model = `m-${newId('x')}`;
      const id = await queuedBatch(database(), model, 3, 'validating');
      expect(await pauseBatch(database().db, id, 'alice')).toMatchObject({ kind: 'done', changed: true });
      await database().db.execute(sql`update batches set status = 'in_progress', in_progress_at = now() where id = ${id}`);
      expect(await leaseRequests(database().db, { owner: 'w', model, limit: 10, leaseMs: 60_000 })).toEqual([]);
    });
  });
}
