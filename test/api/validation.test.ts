import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { appendFileChunk, completeFile, createBatch, createFile, newId, rows } from '../../schema/index.ts';
import { FIXTURES, fixture, useApi } from './harness.ts';

const line = (customId: string, model = 'sim-model', extra = '') =>
  `{"custom_id": "${customId}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "${model}", "messages": []${extra}}}`;

describe('validating batch input files', () => {
  const api = useApi({ MAX_BATCH_REQUESTS: '20', MAX_FILE_BYTES: '8000' });

  /** A batch left validating by a gateway that died: its validation lease has run out. */
  const orphanBatch = (inputFileId: string) =>
    createBatch(api().db.database.db, {
      id: newId('batch_'),
      owner: 'local',
      endpoint: '/v1/chat/completions',
      inputFileId,
      completionWindow: '24h',
      completionWindowSeconds: 86_400,
      metadata: null,
      priority: 0,
      handlers: {},
      validationOwner: 'validator_dead',
      validationLeaseSeconds: -1,
    });

  async function submit(content: Buffer | string, endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions') {
    const client = api().client();
    const file = await client.files.create({ file: await toFile(Buffer.from(content), 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
    await api().validated();
    return client.batches.retrieve(created.id);
  }

  const queued = async (batchId: string) =>
    rows<{ custom_id: string; model: string }>(
      api().db.database.db,
      sql`select custom_id, model from requests where batch_id = ${batchId} order by line`,
    );

  it('fails a file with bad lines, reporting every bad line by number', async () => {
    const expected = JSON.parse(readFileSync(`${FIXTURES}bad-lines.expected.json`, 'utf8')) as {
      endpoint: string;
      bad_lines: Record<string, string>;
    };
    const batch = await submit(fixture('bad-lines.jsonl'));
    expect(batch.status).toBe('failed');
    expect(batch.failed_at).toEqual(expect.any(Number));
    const errors = batch.errors?.data ?? [];
    expect(errors.map((e) => e.line)).toEqual(Object.keys(expected.bad_lines).map(Number));
    expect(errors.map((e) => e.code)).toEqual([
      'invalid_json',
      'duplicate_custom_id',
      'missing_custom_id',
      'invalid_url',
      'invalid_method',
      'missing_model',
      'stream_not_allowed',
      'invalid_line',
    ]);
    expect(errors[1]).toEqual({ line: 3, code: 'duplicate_custom_id', param: 'custom_id', message: expect.stringContaining('line 1') });
    expect(errors.every((e) => e.message?.startsWith(`Line ${e.line}`))).toBe(true);
    expect(await queued(batch.id)).toEqual([]);
  });

  it('fails a file that is not UTF-8, naming the line', async () => {
    const bad = Buffer.concat([Buffer.from(`${line('a')}\n{"custom_id": "`), Buffer.from([0xff, 0xfe]), Buffer.from(`"}\n${line('c')}\n`)]);
    const batch = await submit(bad);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      { line: 2, code: 'invalid_encoding', param: null, message: 'Line 2 is not valid UTF-8; save the file as UTF-8.' },
    ]);
  });

  it('fails an empty file', async () => {
    const batch = await submit('\n\n');
    expect(batch.errors?.data?.map((e) => e.code)).toEqual(['empty_file']);
  });

  it('fails an embeddings line asking for raw bytes, naming the line, the field and what to use', async () => {
    // vLLM answers encoding_format "bytes" and "bytes_only" with application/octet-stream, which no result line holds.
    const embed = (customId: string, format: string) =>
      `{"custom_id": "${customId}", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m1", "input": "a passage", "encoding_format": "${format}"}}`;
    const batch = await submit(
      [embed('a', 'float'), embed('b', 'bytes'), embed('c', 'base64'), embed('d', 'bytes_only')].join('\n'),
      '/v1/embeddings',
    );
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual(
      [2, 4].map((n) => ({
        line: n,
        code: 'invalid_encoding_format',
        param: 'body.encoding_format',
        message: expect.stringContaining(`Line ${n}: body.encoding_format "bytes`),
      })),
    );
    expect(batch.errors?.data?.every((e) => e.message?.includes('use "float" or "base64"'))).toBe(true);
    expect(await queued(batch.id)).toEqual([]);
  });

  it('fails a file with more requests than MAX_BATCH_REQUESTS', async () => {
    const batch = await submit(Array.from({ length: 21 }, (_, i) => line(`r${i}`)).join('\n'));
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      { line: 21, code: 'too_many_requests', param: null, message: expect.stringContaining('more than 20 requests') },
    ]);
  });

  it('queues a batch mixing models, each request under its own model', async () => {
    const batch = await submit([line('a', 'm1'), line('b', 'm2'), line('c', 'm1')].join('\n'));
    expect(batch).toMatchObject({ status: 'in_progress', model: null, request_counts: { total: 3 } });
    expect(await queued(batch.id)).toEqual([
      { custom_id: 'a', model: 'm1' },
      { custom_id: 'b', model: 'm2' },
      { custom_id: 'c', model: 'm1' },
    ]);
  });

  it('fails a line whose model name is too long to queue, instead of leaving the batch validating', async () => {
    // Random text does not compress: Postgres cannot index a model name this long.
    const long = randomBytes(2400).toString('base64');
    const batch = await submit([line('a'), line('b', long)].join('\n'));
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      { line: 2, code: 'invalid_model', param: 'body.model', message: expect.stringContaining('longer than 512 characters') },
    ]);
    expect(await queued(batch.id)).toEqual([]);
  });

  it('accepts a byte order mark, CRLF line endings and blank lines, and keeps bodies byte for byte', async () => {
    const body =
      '{"model": "m1", "seed": 12345678901234567890, "temperature": 1.0, "messages": [{"role": "user", "content": "é\\u00e9 ☃"}]}';
    const text = `\uFEFF{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": ${body}}\r\n\r\n${line('b')}\r\n`;
    const batch = await submit(text);
    expect(batch.status).toBe('in_progress');
    const [first] = await rows<{ body: string }>(
      api().db.database.db,
      sql`select body from requests where batch_id = ${batch.id} and line = 1`,
    );
    expect(first?.body).toBe(body);
  });

  it('queues a file whose characters are split between its stored chunks, bodies kept byte for byte', async () => {
    const body =
      '{"model": "m1", "messages": [{"role": "user", "content": "tab\\there, backslash \\\\ and \\"quotes\\" é ☃ 😀"}],\t"n": 1}';
    const text = `${[`{"custom_id": "é☃\\t😀", "method": "POST", "url": "/v1/chat/completions", "body": ${body}}`, line('b')].join('\n')}\n`;
    const bytes = Buffer.from(text);
    // Stored in chunks of 5 bytes, as no upload would: most multi-byte characters straddle two chunks.
    const id = newId('file-');
    const { database } = api().db;
    await createFile(database.db, { id, owner: 'local', purpose: 'batch', filename: 'split.jsonl' });
    for (let at = 0, seq = 0; at < bytes.length; at += 5, seq++) await appendFileChunk(database.db, id, seq, bytes.subarray(at, at + 5));
    await completeFile(database.db, id, { bytes: bytes.length, lines: 2 });
    const client = api().client();
    const created = await client.batches.create({ input_file_id: id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await api().validated();
    expect((await client.batches.retrieve(created.id)).status).toBe('in_progress');
    const stored = await rows<{ custom_id: string; body: string }>(
      database.db,
      sql`select custom_id, body from requests where batch_id = ${created.id} order by line`,
    );
    expect(stored.map((r) => r.custom_id)).toEqual(['é☃\t😀', 'b']);
    expect(stored[0]?.body).toBe(body);
  });

  it('refuses an upload over MAX_FILE_BYTES and keeps nothing of it', async () => {
    const client = api().client();
    const before = (await client.files.list()).data.length;
    const big = Array.from({ length: 100 }, (_, i) => line(`r${i}`)).join('\n');
    const refused = await client.files
      .create({ file: await toFile(Buffer.from(big), 'big.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 413, param: 'file' });
    expect((await client.files.list()).data.length).toBe(before);
    const [partial] = await rows<{ n: number }>(api().db.database.db, sql`select count(*)::int as n from files where status = 'uploaded'`);
    expect(partial?.n).toBe(0);
  });

  it('refuses purposes other than batch', async () => {
    const refused = await api()
      .client()
      .files.create({ file: await toFile(Buffer.from(line('a')), 'a.jsonl'), purpose: 'fine-tune' })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, param: 'purpose' });
  });

  it('validates more batches created at once than the database pool has connections, instead of deadlocking on them', async () => {
    // Each validation on Postgres holds a connection for its COPY and reads the file on others (the test pool has 4).
    const client = api().client();
    const file = await client.files.create({
      file: await toFile(Buffer.from([line('a'), line('b')].join('\n')), 'a.jsonl'),
      purpose: 'batch',
    });
    const created = await Promise.all(
      Array.from({ length: 8 }, () =>
        client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      ),
    );
    const late = new Promise((resolve) => setTimeout(resolve, 10_000, 'still validating'));
    expect(
      await Promise.race([
        api()
          .validated()
          .then(() => 'validated'),
        late,
      ]),
    ).toBe('validated');
    for (const batch of created) expect((await client.batches.retrieve(batch.id)).status).toBe('in_progress');
  });

  it('picks up a batch left validating by a gateway that died', async () => {
    const client = api().client();
    const file = await client.files.create({ file: await toFile(Buffer.from(line('a')), 'a.jsonl'), purpose: 'batch' });
    const orphan = await orphanBatch(file.id);
    await api().app.validator.sweep();
    await api().validated();
    expect((await client.batches.retrieve(orphan.id)).status).toBe('in_progress');
  });

  it('fails a batch whose validation keeps dying, instead of retrying it for ever', async () => {
    const client = api().client();
    const file = await client.files.create({ file: await toFile(Buffer.from(line('a')), 'a.jsonl'), purpose: 'batch' });
    const orphan = await orphanBatch(file.id);
    // Two more gateways took it up and died: this is the fourth start.
    await api().db.database.db.execute(sql`update batches set validation_attempts = 3 where id = ${orphan.id}`);
    await api().app.validator.sweep();
    await api().validated();
    const batch = await client.batches.retrieve(orphan.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data).toEqual([
      expect.objectContaining({ code: 'validation_error', message: expect.stringContaining('failed 3 times') }),
    ]);
  });

  it('fails a batch whose input file is gone by the time it is validated', async () => {
    const orphan = await orphanBatch('file-gone');
    await api().app.validator.sweep();
    await api().validated();
    const batch = await api().client().batches.retrieve(orphan.id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.map((e) => e.code)).toEqual(['input_file_missing']);
  });

  it('ends a batch cancelled while it validates as cancelled, with nothing queued', async () => {
    const client = api().client();
    const file = await client.files.create({
      file: await toFile(Buffer.from([line('a'), line('b')].join('\n')), 'a.jsonl'),
      purpose: 'batch',
    });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const cancelled = await client.batches.cancel(created.id);
    await api().validated();
    expect(['cancelling', 'cancelled']).toContain(cancelled.status);
    expect((await client.batches.retrieve(created.id)).status).toBe('cancelled');
    const left = await rows<{ n: number }>(
      api().db.database.db,
      sql`select count(*)::int as n from request_states where batch_id = ${created.id} and status = 'queued'`,
    );
    expect(left[0]?.n).toBe(0);
  });
});
