import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../schema/index.ts';
import { FIXTURES, fixture, useApi } from '../api/harness.ts';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker } from '../fleet/helpers.ts';
import { expectEachOnce, until } from '../reliability/harness.ts';

const MAX_FILE_BYTES = 150_000;

const chatLine = (customId: string, model = 'sim-model') =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `hello from ${customId}` }] },
  });

const customIds = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('bad batch input next to a good batch', { timeout: 120_000 }, () => {
  const api = useApi({ MAX_FILE_BYTES: String(MAX_FILE_BYTES) });
  const processes: Running[] = [];
  beforeAll(async () => {
    const sim = await startSim(['--slots', '64']);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: api().db.url, ENGINE_URL: sim.url }));
  });
  afterAll(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  async function submit(content: Buffer | string, endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions') {
    const client = api().client();
    const file = await client.files.create({ file: await toFile(Buffer.from(content), 'input.jsonl'), purpose: 'batch' });
    return client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
  }

  async function settled(batchId: string, statuses: string[]) {
    const client = api().client();
    for (const deadline = Date.now() + 60_000; ; ) {
      await api().validated();
      const batch = await client.batches.retrieve(batchId);
      if (statuses.includes(batch.status)) return batch;
      if (Date.now() > deadline) throw new Error(`batch ${batchId} is still ${batch.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const requestStatuses = async (batchId: string) =>
    rows<{ status: string; n: number }>(
      api().db.database.db,
      sql`select status, count(*)::int as n from request_states where batch_id = ${batchId} group by status order by status`,
    );

  it('refuses or fails each bad submission with a clear error, and the good batch completes untouched', async () => {
    const client = api().client();
    const good = await submit(fixture('chat-100.jsonl'));

    // Malformed JSON, duplicate custom_ids, missing fields, a line for another endpoint, stream: true.
    const badLines = await settled((await submit(fixture('bad-lines.jsonl'))).id, ['failed']);
    const expected = JSON.parse(readFileSync(`${FIXTURES}bad-lines.expected.json`, 'utf8')) as { bad_lines: Record<string, string> };
    expect(badLines.errors?.data?.map((e) => e.line)).toEqual(Object.keys(expected.bad_lines).map(Number));
    expect(badLines.errors?.data?.every((e) => e.message?.startsWith(`Line ${e.line}`))).toBe(true);

    // An endpoint no batch may target.
    const wrongEndpoint = await client.batches
      .create({ input_file_id: good.input_file_id, endpoint: '/v1/images/generations' as '/v1/embeddings', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(wrongEndpoint).toMatchObject({
      status: 400,
      param: 'endpoint',
      error: { message: 'endpoint must be one of /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses' },
    });

    // A file over MAX_FILE_BYTES: refused while it streams in, nothing kept.
    const big = Array.from({ length: 2000 }, (_, i) => chatLine(`big-${i}`)).join('\n');
    expect(big.length).toBeGreaterThan(MAX_FILE_BYTES);
    const oversize = await client.files
      .create({ file: await toFile(Buffer.from(big), 'big.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    expect(oversize).toMatchObject({
      status: 413,
      param: 'file',
      error: { message: `The file is larger than ${MAX_FILE_BYTES} bytes (MAX_FILE_BYTES); split it into several files.` },
    });

    // Latin-1 text where UTF-8 belongs.
    const latin1 = Buffer.from(`${chatLine('ok')}\n${chatLine('caf\u00e9')}\n`, 'latin1');
    const notUtf8 = await settled((await submit(latin1)).id, ['failed']);
    expect(notUtf8.errors?.data).toEqual([
      { line: 2, code: 'invalid_encoding', param: null, message: 'Line 2 is not valid UTF-8; save the file as UTF-8.' },
    ]);

    // 50,000 empty lines: no request at all, said at once.
    const empty = await settled((await submit('\n'.repeat(50_000))).id, ['failed']);
    expect(empty.errors?.data).toEqual([
      {
        line: null,
        code: 'empty_file',
        param: null,
        message: 'The input file has no requests; upload a JSONL file with one request per line.',
      },
    ]);
    // ...and one request after them keeps its line number.
    const late = await settled((await submit(`${'\r\n'.repeat(50_000)}${chatLine('late')}\n`)).id, ['completed']);
    const [lateRow] = await rows<{ line: number }>(api().db.database.db, sql`select line from requests where batch_id = ${late.id}`);
    expect(lateRow?.line).toBe(50_001);
    await expectEachOnce(client, late, ['late']);

    const done = await settled(good.id, ['completed']);
    const { output, errors } = await expectEachOnce(client, done, customIds(fixture('chat-100.jsonl').toString()));
    expect(errors).toEqual([]);
    expect(output.every((l) => l.response?.status_code === 200)).toBe(true);
    // None of the refused or failed submissions left a request behind.
    const [queued] = await rows<{ n: number }>(
      api().db.database.db,
      sql`select count(*)::int as n from requests where batch_id in (${badLines.id}, ${notUtf8.id}, ${empty.id})`,
    );
    expect(queued?.n).toBe(0);
    expect((await client.files.list()).data.map((f) => f.filename)).not.toContain('big.jsonl');
  });

  it('keeps requests for a model no worker serves queued and visible as such, while the rest of their batch and other batches finish', async () => {
    const client = api().client();
    const unknown = await submit([chatLine('u1', 'no-such-model'), chatLine('u2', 'no-such-model')].join('\n'));
    const mixed = await submit([chatLine('m1'), chatLine('m2', 'no-such-model'), chatLine('m3')].join('\n'));
    const good = await submit([chatLine('g1'), chatLine('g2')].join('\n'));
    await expectEachOnce(client, await settled(good.id, ['completed']), ['g1', 'g2']);

    // Not failed: waiting in the queue for a worker that serves the model, with no completion estimate.
    const waiting = await until(async () => {
      const batch = await client.batches.retrieve(mixed.id);
      return batch.request_counts?.completed === 2 ? batch : undefined;
    }, 'the servable requests of the mixed batch');
    expect(waiting).toMatchObject({
      status: 'in_progress',
      request_counts: { total: 3, completed: 2, failed: 0 },
      estimated_completion_at: null,
    });
    expect(await requestStatuses(mixed.id)).toEqual([
      { status: 'queued', n: 1 },
      { status: 'succeeded', n: 2 },
    ]);
    expect(await client.batches.retrieve(unknown.id)).toMatchObject({
      status: 'in_progress',
      request_counts: { total: 2, completed: 0, failed: 0 },
      estimated_completion_at: null,
    });
    expect(await requestStatuses(unknown.id)).toEqual([{ status: 'queued', n: 2 }]);

    // The user can give up on them: cancelling keeps what finished and reports the rest.
    await client.batches.cancel(mixed.id);
    const cancelled = await settled(mixed.id, ['cancelled']);
    const { errors } = await expectEachOnce(client, cancelled, ['m1', 'm2', 'm3']);
    expect(errors.map((e) => [e.custom_id, e.error?.code])).toEqual([['m2', 'batch_cancelled']]);
    await client.batches.cancel(unknown.id);
    const gaveUp = await expectEachOnce(client, await settled(unknown.id, ['cancelled']), ['u1', 'u2']);
    expect(gaveUp.errors.map((e) => e.error?.code)).toEqual(['batch_cancelled', 'batch_cancelled']);
  });
});
