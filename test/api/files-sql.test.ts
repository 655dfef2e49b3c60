import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  appendFileChunk,
  completeFile,
  createFile,
  deleteAbandonedUploads,
  deleteFile,
  getFile,
  listFiles,
  newId,
  readFileChunks,
  rows,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

const encoder = new TextEncoder();

async function upload(database: Database, owner: string, parts: string[], filename = 'in.jsonl') {
  const id = newId('file-');
  await createFile(database.db, { id, owner, purpose: 'batch', filename });
  for (const [seq, part] of parts.entries()) await appendFileChunk(database.db, id, seq, encoder.encode(part));
  const bytes = parts.reduce((n, p) => n + encoder.encode(p).length, 0);
  return { id, file: await completeFile(database.db, id, { bytes, lines: parts.length }) };
}

async function readAll(database: Database, id: string) {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of readFileChunks(database.db, id)) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

describe.each(DRIVERS)('file statements on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('stores an upload in chunks and reads the same bytes back in order', async () => {
    const { id, file } = await upload(database(), 'alice', ['{"a":1}\n', '{"b":"é ☃"}\n', '{"c":3}\n']);
    expect(file).toMatchObject({ id, owner: 'alice', purpose: 'batch', filename: 'in.jsonl', bytes: 31, lines: 3, status: 'processed' });
    expect(await readAll(database(), id)).toBe('{"a":1}\n{"b":"é ☃"}\n{"c":3}\n');
    expect(await getFile(database().db, id, 'alice')).toEqual(file);
  });

  it('hides an upload still streaming in, and another owner\'s files', async () => {
    const id = newId('file-');
    await createFile(database().db, { id, owner: 'alice', purpose: 'batch', filename: 'partial.jsonl' });
    await appendFileChunk(database().db, id, 0, encoder.encode('{}\n'));
    expect(await getFile(database().db, id, 'alice')).toBeUndefined();
    const { id: done } = await upload(database(), 'alice', ['x\n']);
    expect(await getFile(database().db, done, 'bob')).toBeUndefined();
    const listed = await listFiles(database().db, { owner: 'alice', limit: 100, order: 'desc' });
    expect(listed.data.map((f) => f.id)).not.toContain(id);
    expect((await listFiles(database().db, { owner: 'bob', limit: 100, order: 'desc' })).data).toEqual([]);
  });

  it('pages through files in either order after a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await upload(database(), 'carol', [`${i}\n`])).id);
    const first = await listFiles(database().db, { owner: 'carol', limit: 2, order: 'asc' });
    expect(first.data.map((f) => f.id)).toEqual(ids.slice(0, 2));
    expect(first.hasMore).toBe(true);
    const rest = await listFiles(database().db, { owner: 'carol', limit: 10, order: 'asc', after: ids[1] });
    expect(rest.data.map((f) => f.id)).toEqual(ids.slice(2));
    expect(rest.hasMore).toBe(false);
    const newest = await listFiles(database().db, { owner: 'carol', limit: 2, order: 'desc', after: ids[4] });
    expect(newest.data.map((f) => f.id)).toEqual([ids[3], ids[2]]);
    const byPurpose = await listFiles(database().db, { owner: 'carol', limit: 10, order: 'asc', purpose: 'batch_output' });
    expect(byPurpose.data).toEqual([]);
  });

  it('deletes a file with its chunks, only for its owner', async () => {
    const { id } = await upload(database(), 'dave', ['a\n', 'b\n']);
    expect(await deleteFile(database().db, id, 'eve')).toBe(false);
    expect(await deleteFile(database().db, id, 'dave')).toBe(true);
    expect(await getFile(database().db, id, 'dave')).toBeUndefined();
    const [left] = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from file_chunks where file_id = ${id}`);
    expect(left?.n).toBe(0);
  });

  it('deletes abandoned uploads older than the given age, not complete files', async () => {
    const id = newId('file-');
    await createFile(database().db, { id, owner: 'frank', purpose: 'batch', filename: 'lost.jsonl' });
    await database().db.execute(sql`update files set created_at = now() - interval '2 hours' where id = ${id}`);
    const { id: kept } = await upload(database(), 'frank', ['a\n']);
    await database().db.execute(sql`update files set created_at = now() - interval '2 hours' where id = ${kept}`);
    expect(await deleteAbandonedUploads(database().db, 3600)).toBe(1);
    expect(await getFile(database().db, kept, 'frank')).toBeDefined();
  });
});
