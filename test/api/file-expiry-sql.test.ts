import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  appendFileChunk,
  completeFile,
  createFile,
  deleteFile,
  expireFiles,
  getFile,
  newId,
  purgeRequestData,
  retryBatch,
  rows,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

/** A complete input file of one chunk, expiring after `seconds` when given. */
async function upload(database: Database, owner: string, seconds?: number) {
  const id = newId('file-');
  await createFile(database.db, { id, owner, purpose: 'batch', filename: 'in.jsonl' });
  await appendFileChunk(database.db, id, 0, new TextEncoder().encode('{}\n'));
  await completeFile(database.db, id, { bytes: 3, lines: 1, expiresAfterSeconds: seconds ?? null });
  return id;
}

/** A batch of two answered requests in `status`, with result files that do not expire. */
async function batch(database: Database, owner: string, inputFileId: string, status: string) {
  const id = newId('batch_');
  const [out, err] = [newId('file-'), newId('file-')];
  await database.db.execute(sql`insert into files (id, owner, purpose, filename, batch_id) values
    (${out}, ${owner}, 'batch_output', 'o.jsonl', ${id}), (${err}, ${owner}, 'batch_output', 'e.jsonl', ${id})`);
  await database.db.execute(sql`insert into batches (id, owner, endpoint, completion_window, status, input_file_id, output_file_id, error_file_id, total, expires_at)
    values (${id}, ${owner}, '/v1/embeddings', '24h', ${status}, ${inputFileId}, ${out}, ${err}, 2, now() + interval '1 day')`);
  await database.db.execute(sql`insert into requests (batch_id, line, custom_id, model, body) values
    (${id}, 1, 'a', 'm', '{"input":"a"}'), (${id}, 2, 'b', 'm', '{"input":"b"}')`);
  await database.db.execute(sql`insert into results (batch_id, line, status, response) values
    (${id}, 1, 'succeeded', '{"object":"list"}'), (${id}, 2, 'failed', '{"error":{}}')`);
  return { id, out, err };
}

const expireNow = (database: Database, ...ids: string[]) =>
  database.db.execute(
    sql`update files set expires_at = now() - interval '1 second' where id in (${sql.join(
      ids.map((i) => sql`${i}`),
      sql`, `,
    )})`,
  );

async function stored(database: Database, batchId: string) {
  const [row] = await rows<{ bodies: number; results: number }>(
    database.db,
    sql`select (select count(*) from requests where batch_id = ${batchId} and body <> '')::int as bodies,
          (select count(*) from results where batch_id = ${batchId} and response is not null)::int as results`,
  );
  return row;
}

describe.each(DRIVERS)('file expiry statements on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('expires only files whose time has passed, deleting their bytes and keeping their row as expired', async () => {
    const due = await upload(database(), 'o1', 3600);
    const later = await upload(database(), 'o1', 3600);
    const kept = await upload(database(), 'o1');
    expect(await getFile(database().db, due, 'o1')).toMatchObject({ kind: 'input', expiresAtMs: expect.any(Number) });
    await expireNow(database(), due);
    expect(await getFile(database().db, due, 'o1')).toBeUndefined();
    expect(await deleteFile(database().db, due, 'o1')).toBe(false);
    expect(await expireFiles(database().db)).toEqual([due]);
    expect(await expireFiles(database().db)).toEqual([]);
    const found = await rows<{ id: string; status: string; chunks: number }>(
      database().db,
      sql`select id, status, (select count(*)::int from file_chunks c where c.file_id = files.id) as chunks from files where id in (${due}, ${later}, ${kept}) order by seq`,
    );
    expect(found).toEqual([
      { id: due, status: 'expired', chunks: 0 },
      { id: later, status: 'processed', chunks: 1 },
      { id: kept, status: 'processed', chunks: 1 },
    ]);
  });

  it('removes bodies and results only of ended batches without handler work whose files are gone', async () => {
    const owner = 'o2';
    const input = await upload(database(), owner);
    const running = await batch(database(), owner, input, 'in_progress');
    const handled = await batch(database(), owner, input, 'completed');
    await database().db.execute(
      sql`insert into handler_runs (batch_id, handler, event, status) values (${handled.id}, 'webhook', 'completed', 'queued')`,
    );
    const done = await batch(database(), owner, input, 'completed');
    const untouched = await batch(database(), owner, await upload(database(), owner), 'completed');

    // The input file deleted by its owner counts as gone, as an expired one does.
    await deleteFile(database().db, input, owner);
    await expireNow(database(), running.out, running.err, handled.out, handled.err, done.out);
    await expireFiles(database().db);
    // The error file of `done` is still there: its results stay.
    expect(await purgeRequestData(database().db)).toEqual({ bodies: [done.id], results: [] });
    expect(await stored(database(), done.id)).toEqual({ bodies: 0, results: 2 });

    await expireNow(database(), done.err);
    await expireFiles(database().db);
    expect(await purgeRequestData(database().db)).toEqual({ bodies: [], results: [done.id] });
    expect(await stored(database(), done.id)).toEqual({ bodies: 0, results: 0 });
    for (const kept of [running.id, handled.id, untouched.id]) expect(await stored(database(), kept)).toEqual({ bodies: 2, results: 2 });

    // Once its handler run is done, the handled batch goes the same way.
    await database().db.execute(sql`update handler_runs set status = 'succeeded' where batch_id = ${handled.id}`);
    expect(await purgeRequestData(database().db)).toEqual({ bodies: [handled.id], results: [handled.id] });
    expect(await purgeRequestData(database().db)).toEqual({ bodies: [], results: [] });
    const [counts] = await rows<{ n: number }>(
      database().db,
      sql`select count(*)::int as n from request_states where batch_id = ${handled.id} and status = 'succeeded'`,
    );
    expect(counts?.n).toBe(1);
    const retry = { batchId: handled.id, owner, newBatchId: newId('batch_'), newFileId: newId('file-') };
    expect(await retryBatch(database().db, retry)).toEqual({ kind: 'bodies_purged' });
  });

  it('keeps a batch whose results went retryable while its input file is there', async () => {
    const owner = 'o4';
    const old = await batch(database(), owner, await upload(database(), owner), 'completed');
    await expireNow(database(), old.out, old.err);
    await expireFiles(database().db);
    expect((await purgeRequestData(database().db)).results).toContain(old.id);
    expect(await stored(database(), old.id)).toEqual({ bodies: 2, results: 0 });
    const retry = { batchId: old.id, owner, newBatchId: newId('batch_'), newFileId: newId('file-') };
    expect(await retryBatch(database().db, retry)).toMatchObject({ kind: 'created', total: 1 });
  });

  it('gives the input file of a retry the retention it is given', async () => {
    const owner = 'o3';
    const old = await batch(database(), owner, await upload(database(), owner), 'completed');
    const retry = { batchId: old.id, owner, newBatchId: newId('batch_'), newFileId: newId('file-'), inputExpiresAfter: 86_400 };
    expect(await retryBatch(database().db, retry)).toMatchObject({ kind: 'created', total: 1 });
    const file = await getFile(database().db, retry.newFileId, owner);
    expect(Math.round((file!.expiresAtMs! - file!.createdAtMs) / 1000)).toBe(86_400);
  });
});
