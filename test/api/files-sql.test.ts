import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  appendFileChunk,
  completeFile,
  createFile,
  deleteAbandonedUploads,
  deleteFile,
  isFileCursor,
  getFile,
  listFiles,
  newId,
  readFileChunks,
  readFileText,
  rows,
  TEXT_FAILURES_ALLOWED,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

const encoder = new TextEncoder();

async function upload(database: Database, owner: string, parts: (string | Uint8Array)[], filename = 'in.jsonl') {
  const id = newId('file-');
  await createFile(database.db, { id, owner, purpose: 'batch', filename });
  const chunks = parts.map((part) => (typeof part === 'string' ? encoder.encode(part) : part));
  for (const [seq, chunk] of chunks.entries()) await appendFileChunk(database.db, id, seq, chunk);
  const bytes = chunks.reduce((n, chunk) => n + chunk.length, 0);
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

  it("hides an upload still streaming in, and another owner's files", async () => {
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
    expect(await deleteFile(database().db, id, 'dave')).toBe(false);
  });

  it('lists the files after one deleted since the page that named it', async () => {
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await upload(database(), 'fay', [`${name}\n`])).id);
    expect(await deleteFile(database().db, ids[1]!, 'fay')).toBe(true);
    expect(await isFileCursor(database().db, ids[1]!, 'fay')).toBe(true);
    expect(await isFileCursor(database().db, ids[1]!, 'eve')).toBe(false);
    const next = await listFiles(database().db, { owner: 'fay', after: ids[1], limit: 10, order: 'asc' });
    expect(next.data.map((f) => f.id)).toEqual([ids[2]]);
    const all = await listFiles(database().db, { owner: 'fay', limit: 10, order: 'asc' });
    expect(all.data.map((f) => f.id)).toEqual([ids[0], ids[2]]);
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

describe('reading a file as text where it is UTF-8 (postgres)', () => {
  const database = useDriverDatabase('postgres');

  async function pieces(id: string, readAhead = 0) {
    const out: { data: string | Uint8Array; bytes: number }[] = [];
    for await (const piece of readFileText(database().db, id, { readAhead })) out.push(piece);
    return out;
  }

  it('gives a chunk as text when it is UTF-8 on its own, else as bytes, the bytes adding up to the file', async () => {
    const snowman = encoder.encode('☃');
    const parts = [
      encoder.encode('{"a":"é"}\n'),
      Buffer.concat([encoder.encode('{"b":"'), snowman.subarray(0, 1)]),
      Buffer.concat([snowman.subarray(1), encoder.encode('"}\n')]),
      Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
      encoder.encode('{"nul":"\u0000"}\n'),
      encoder.encode('{"z":1}\n'),
    ];
    const { id } = await upload(database(), 'alice', parts);
    for (const readAhead of [0, 3]) {
      const read = await pieces(id, readAhead);
      expect(read.map((p) => typeof p.data)).toEqual(['string', 'object', 'object', 'object', 'object', 'string']);
      expect(read.map((p) => p.bytes)).toEqual(parts.map((p) => p.length));
      expect(Buffer.concat(read.map((p) => (typeof p.data === 'string' ? encoder.encode(p.data) : p.data)))).toEqual(Buffer.concat(parts));
    }
  });

  it(`reads the rest as bytes once ${TEXT_FAILURES_ALLOWED} chunks were not text`, async () => {
    const bad = Array.from({ length: TEXT_FAILURES_ALLOWED }, () => Buffer.from([0xff]));
    const { id } = await upload(database(), 'alice', [...bad, '{"ok":true}\n']);
    const read = await pieces(id);
    expect(read).toHaveLength(TEXT_FAILURES_ALLOWED + 1);
    const last = read.at(-1)?.data;
    expect(last).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(last as Uint8Array).toString('utf8')).toBe('{"ok":true}\n');
  });

  it('ends at the first missing chunk', async () => {
    const { id } = await upload(database(), 'alice', ['a\n', 'b\n']);
    await database().db.execute(sql`delete from file_chunks where file_id = ${id} and seq = 1`);
    expect((await pieces(id, 2)).map((p) => p.data)).toEqual(['a\n']);
  });
});
