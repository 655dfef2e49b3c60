import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  batches,
  cancelBatch,
  failBatch,
  leaseRequests,
  rows,
  settleBatch,
  stopRequests,
  streamResultLines,
  sweepBatches,
  unsettledBatches,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { answer, insertBatch, statuses } from './batch-fixtures.ts';

async function batchRow(database: Database, id: string) {
  const [row] = await database.db.select().from(batches).where(eq(batches.id, id));
  if (!row) throw new Error(`no batch ${id}`);
  return row;
}

async function fileText(database: Database, batchId: string, kind: 'output' | 'error') {
  let text = '';
  for await (const line of streamResultLines(database.db, batchId, kind, 2)) text += line;
  return text;
}

async function fileRow(database: Database, id: unknown) {
  const [row] = await rows<{ bytes: number; lines: number; purpose: string }>(
    database.db,
    sql`select bytes::float8 as bytes, lines, purpose from files where id = ${String(id)}`,
  );
  return row;
}

describe.each(DRIVERS)('settling batches on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('completes a batch once every request is answered, with both files and its handler runs', async () => {
    const id = await insertBatch(database(), { count: 5, handlers: { webhook: { url: 'http://x' }, audit: {} } });
    await answer(database(), id, [1, 2, 4, 5], 'succeeded');
    expect(await settleBatch(database().db, id)).toEqual([]);
    await answer(database(), id, [3], 'failed');
    const transitions = await settleBatch(database().db, id);
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['in_progress->finalizing', 'finalizing->completed']);

    const batch = await batchRow(database(), id);
    expect(batch.status).toBe('completed');
    expect(batch.completedAt).toBeInstanceOf(Date);
    expect(batch.finalizingAt).toBeInstanceOf(Date);

    const output = await fileText(database(), id, 'output');
    const lines = output
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.custom_id)).toEqual(['req-1', 'req-2', 'req-4', 'req-5']);
    expect(lines[0]).toMatchObject({
      id: expect.stringMatching(/^batch_req_\d+$/),
      custom_id: 'req-1',
      response: { status_code: 200, request_id: 'chatcmpl-1', body: { object: 'chat.completion' } },
      error: null,
    });
    expect(lines[0].response.body.choices[0].message.content).toBe('ok "quoted"');
    const outputFile = await fileRow(database(), batch.outputFileId);
    expect(outputFile).toEqual({ bytes: Buffer.byteLength(output), lines: 4, purpose: 'batch_output' });

    const error = await fileText(database(), id, 'error');
    expect(JSON.parse(error)).toMatchObject({ custom_id: 'req-3', response: { status_code: 400 }, error: null });
    // Stored as batch_error, which a previous-release gateway serves the error lines by; the API shows batch_output.
    expect(await fileRow(database(), batch.errorFileId)).toEqual({ bytes: Buffer.byteLength(error), lines: 1, purpose: 'batch_error' });

    const runs = await rows<{ handler: string; event: string; status: string }>(
      database().db,
      sql`select handler, event, status from handler_runs where batch_id = ${id} order by handler`,
    );
    expect(runs).toEqual([
      { handler: 'audit', event: 'completed', status: 'queued' },
      { handler: 'webhook', event: 'completed', status: 'queued' },
    ]);
  });

  it('finishes a batch exactly once when many processes settle it at once', async () => {
    const id = await insertBatch(database(), { count: 3, handlers: { webhook: {} } });
    await answer(database(), id, [1, 2, 3], 'succeeded');
    const all = await Promise.all(Array.from({ length: 6 }, () => settleBatch(database().db, id)));
    expect(all.flat().filter((t) => t.to === 'completed')).toHaveLength(1);
    const [runs] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from handler_runs where batch_id = ${id}`);
    expect(runs?.n).toBe(1);
  });

  it('gives an error file without an output file when nothing succeeded', async () => {
    const id = await insertBatch(database(), { count: 2 });
    await answer(database(), id, [1, 2], 'failed');
    await settleBatch(database().db, id);
    const batch = await batchRow(database(), id);
    expect(batch).toMatchObject({ status: 'completed', outputFileId: null });
    expect(batch.errorFileId).toMatch(/^file-/);
  });

  it('cancels queued requests at once and the batch when its last in-flight request ends', async () => {
    const id = await insertBatch(database(), { count: 4, model: 'cancel-model' });
    await answer(database(), id, [1], 'succeeded');
    const leased = await leaseRequests(database().db, { owner: 'w1', model: 'cancel-model', limit: 1, leaseMs: 10_000 });
    expect(leased.map((r) => r.line)).toEqual([2]);

    const outcome = await cancelBatch(database().db, id, 'local');
    expect(outcome).toEqual({ kind: 'cancelling', transitions: [{ batchId: id, owner: 'local', from: 'in_progress', to: 'cancelling' }] });
    expect((await batchRow(database(), id)).status).toBe('cancelling');

    // The worker finishes its in-flight request before it hears of the cancel: the result is kept.
    await answer(database(), id, [2], 'succeeded');
    const transitions = await settleBatch(database().db, id);
    expect(transitions.map((t) => t.to)).toEqual(['cancelled']);
    const batch = await batchRow(database(), id);
    expect(batch.cancelledAt).toBeInstanceOf(Date);
    expect((await fileText(database(), id, 'output')).trimEnd().split('\n')).toHaveLength(2);
    const errors = (await fileText(database(), id, 'error'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.response, e.error.code])).toEqual([
      ['req-3', null, 'batch_cancelled'],
      ['req-4', null, 'batch_cancelled'],
    ]);
  });

  it("refuses to cancel a finished batch, and hides other owners' batches", async () => {
    const id = await insertBatch(database(), { count: 1 });
    await answer(database(), id, [1], 'succeeded');
    await settleBatch(database().db, id);
    expect(await cancelBatch(database().db, id, 'local')).toEqual({ kind: 'not_cancellable', status: 'completed' });
    expect(await cancelBatch(database().db, id, 'someone-else')).toEqual({ kind: 'not_found' });
  });

  it('expires a batch past its window, keeping finished results', async () => {
    const id = await insertBatch(database(), { count: 3, expiresInSeconds: -1 });
    await answer(database(), id, [2], 'succeeded');
    const transitions = await sweepBatches(database().db);
    expect(transitions.filter((t) => t.batchId === id).map((t) => t.to)).toEqual(['expired']);
    const batch = await batchRow(database(), id);
    expect(batch.expiredAt).toBeInstanceOf(Date);
    const errors = (await fileText(database(), id, 'error'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['req-1', 'batch_expired'],
      ['req-3', 'batch_expired'],
    ]);
    expect(JSON.parse(await fileText(database(), id, 'output')).custom_id).toBe('req-2');
  });

  it('waits for in-flight requests before expiring', async () => {
    const id = await insertBatch(database(), { count: 2, model: 'slow-model' });
    const leased = await leaseRequests(database().db, { owner: 'w1', model: 'slow-model', limit: 1, leaseMs: 10_000 });
    expect(leased.map((r) => r.line)).toEqual([1]);
    // The window closes while line 1 is in flight.
    await database().db.execute(sql`update batches set expires_at = now() - interval '1 second' where id = ${id}`);
    expect((await sweepBatches(database().db)).filter((t) => t.batchId === id)).toEqual([]);
    expect((await batchRow(database(), id)).status).toBe('in_progress');
    // The worker's heartbeat hears of the expiry and gives its range back; settling then expires its line too.
    expect(
      await stopRequests(
        database().db,
        'w1',
        leased.map((r) => r.rangeId),
      ),
    ).toEqual([id]);
    expect((await settleBatch(database().db, id)).map((t) => t.to)).toEqual(['expired']);
    const errors = (await fileText(database(), id, 'error'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['req-1', 'batch_expired'],
      ['req-2', 'batch_expired'],
    ]);
  });

  it('expires a batch whose last in-flight range finishes after its window closed, rather than completing it', async () => {
    const id = await insertBatch(database(), { count: 3, model: 'late-model' });
    const leased = await leaseRequests(database().db, { owner: 'w1', model: 'late-model', limit: 1, leaseMs: 10_000 });
    expect(leased.map((r) => r.line)).toEqual([1]);
    await database().db.execute(sql`update batches set expires_at = now() - interval '1 second' where id = ${id}`);
    expect(await sweepBatches(database().db)).toEqual([]);
    // The worker writes its result before its heartbeat hears of the expiry: no range is open any more.
    await answer(database(), id, [1], 'succeeded');
    expect(await unsettledBatches(database().db)).toContain(id);
    expect((await settleBatch(database().db, id)).map((t) => t.to)).toEqual(['expired']);
    expect(JSON.parse(await fileText(database(), id, 'output')).custom_id).toBe('req-1');
    const errors = (await fileText(database(), id, 'error'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['req-2', 'batch_expired'],
      ['req-3', 'batch_expired'],
    ]);
  });

  it('cuts lines that have neither a result nor a range into ranges, so that they run', async () => {
    const id = await insertBatch(database(), { count: 3, model: 'stranded-model' });
    await answer(database(), id, [2], 'succeeded');
    // As a path that queued requests without cutting them would leave them (a previous release's gateway).
    await database().db.execute(sql`delete from request_ranges where batch_id = ${id} and finished_at is null`);
    expect(await unsettledBatches(database().db)).toContain(id);
    expect(await settleBatch(database().db, id)).toEqual([]);
    expect(await statuses(database(), id)).toEqual([
      { status: 'queued', n: 2 },
      { status: 'succeeded', n: 1 },
    ]);
    const leased = await leaseRequests(database().db, { owner: 'w1', model: 'stranded-model', limit: 10, leaseMs: 10_000 });
    expect(leased.map((r) => r.line).sort()).toEqual([1, 3]);
  });

  it('ends stranded lines too when the batch stops', async () => {
    const id = await insertBatch(database(), { count: 2, model: 'stranded-stop-model' });
    await database().db.execute(sql`delete from request_ranges where batch_id = ${id}`);
    expect((await cancelBatch(database().db, id, 'local')).kind).toBe('cancelling');
    expect((await batchRow(database(), id)).status).toBe('cancelled');
    const errors = (await fileText(database(), id, 'error'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors.map((e) => [e.custom_id, e.error.code])).toEqual([
      ['req-1', 'batch_cancelled'],
      ['req-2', 'batch_cancelled'],
    ]);
  });

  it('finishes a batch left in finalizing by a crashed process', async () => {
    const id = await insertBatch(database(), { count: 1 });
    await answer(database(), id, [1], 'succeeded');
    await database().db.execute(
      sql`update batches set status = 'finalizing', finalizing_at = now() - interval '1 minute' where id = ${id}`,
    );
    const transitions = await sweepBatches(database().db);
    expect(transitions.filter((t) => t.batchId === id).map((t) => t.to)).toEqual(['completed']);
  });

  it('fails a validating batch with its errors and handler runs, once', async () => {
    const id = await insertBatch(database(), { count: 0, handlers: { webhook: {} } });
    await database().db.execute(sql`update batches set status = 'validating' where id = ${id}`);
    const errors = [{ code: 'invalid_json_line', message: 'line 2 is not valid JSON', param: null, line: 2 }];
    expect(await failBatch(database().db, id, errors)).toBe(true);
    expect(await failBatch(database().db, id, errors)).toBe(false);
    const batch = await batchRow(database(), id);
    expect(batch).toMatchObject({ status: 'failed', errors });
    const runs = await rows<{ event: string }>(database().db, sql`select event from handler_runs where batch_id = ${id}`);
    expect(runs).toEqual([{ event: 'failed' }]);
  });
});
