import { sql } from 'drizzle-orm';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker } from '../fleet/helpers.ts';
import { clientOf, expectEachOnce, requestLines, startGateway, submitBatch, until, waitForStatus } from './harness.ts';

const BOUNDARY = 'vbs-reliability-boundary';

/**
 * Starts a multipart upload of `text` and sends only its first `sent` bytes: the request
 * stays open, as when a gateway dies under a client still sending. Resolves when the
 * request ends (it fails once the gateway is killed).
 */
function startHalfUpload(url: string, text: string, sent: number): Promise<unknown> {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="half.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(head + text.slice(0, sent)));
    },
  });
  return fetch(`${url}/v1/files`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body,
    duplex: 'half',
  } as RequestInit).catch((error: unknown) => error);
}

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('a gateway killed with -9 in the middle of an upload or a validation', { timeout: 120_000 }, () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  const count = async (query: ReturnType<typeof sql>) => (await rows<{ n: number }>(test().database.db, query))[0]?.n ?? 0;

  it('leaves no half file or half batch visible, and the file uploads again and runs', async () => {
    const { url } = test();
    const sim = await startSim(['--slots', '64']);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url }));

    const first = await startGateway(url);
    processes.push(first.process);
    const { text, ids } = requestLines({ count: 5000, model: 'sim-model', prefix: 'upload' });
    const upload = startHalfUpload(first.url, text, 600_000);
    // Two 256 KiB chunks are stored before the gateway dies.
    await until(
      async () =>
        (await count(sql`select count(*)::int as n from file_chunks c join files f on f.id = c.file_id where f.filename = 'half.jsonl'`)) >=
        2,
      'the first chunks of the upload',
      30_000,
    );
    first.process.child.kill('SIGKILL');
    await first.process.stop();
    expect(await upload).toBeInstanceOf(Error);

    const second = await startGateway(url);
    processes.push(second.process);
    const client = clientOf(second.url);
    const [half] = await rows<{ id: string }>(test().database.db, sql`select id from files where filename = 'half.jsonl'`);
    expect(half).toBeDefined();
    expect((await client.files.list()).data).toEqual([]);
    await expect(client.files.retrieve(half!.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content(half!.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const refused = await client.batches
      .create({ input_file_id: half!.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await client.batches.list()).data).toEqual([]);

    const batch = await waitForStatus(client, (await submitBatch(client, text)).id, ['completed']);
    expect((await client.files.list()).data.filter((f) => f.purpose === 'batch').map((f) => f.bytes)).toEqual([text.length]);
    const { output } = await expectEachOnce(client, batch, ids);
    expect(output).toHaveLength(5000);
  });

  it('leaves no half batch after a kill during validation, and the next gateway validates it in full', async () => {
    const { url, database } = test();
    const sim = await startSim(['--slots', '256', '--model', 'embed-model']);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url }));

    const first = await startGateway(url);
    processes.push(first.process);
    // Long lines make validation take a while (about 10 MB to parse and insert), so the kill lands inside it.
    const padding = 'word '.repeat(400);
    const ids = Array.from({ length: 5000 }, (_, i) => `validate-${i + 1}`);
    const text = `${ids.map((custom_id) => JSON.stringify({ custom_id, method: 'POST', url: '/v1/embeddings', body: { model: 'embed-model', input: `${custom_id} ${padding}` } })).join('\n')}\n`;
    const client = clientOf(first.url);
    const { id } = await submitBatch(client, text, '/v1/embeddings');
    // Killed once the validation's transaction has written rows it has not committed.
    await until(
      async () =>
        count(sql`select count(*)::int as n from pg_stat_activity
                  where datname = current_database() and application_name = 'vbs-gateway' and backend_xid is not null`),
      'the validation to be writing',
      30_000,
      10,
    );
    first.process.child.kill('SIGKILL');
    await first.process.stop();

    const [dead] = await rows<{ status: string; total: number }>(database.db, sql`select status, total from batches where id = ${id}`);
    const queued = await count(sql`select count(*)::int as n from requests where batch_id = ${id}`);
    // Nothing of the half-written batch is left: its transaction died with the gateway.
    expect(dead).toEqual({ status: 'validating', total: 0 });
    expect(queued).toBe(0);
    // The dead gateway's validation lease runs a minute: expire it rather than wait.
    await database.db.execute(
      sql`update batches set validation_expires_at = now() - interval '1 second' where id = ${id} and status = 'validating'`,
    );

    const second = await startGateway(url);
    processes.push(second.process);
    const client2 = clientOf(second.url);
    const batch = await waitForStatus(client2, id, ['completed']);
    const { output } = await expectEachOnce(client2, batch, ids);
    expect(output).toHaveLength(5000);
  });
});
