import OpenAI, { toFile } from 'openai';
import { expect } from 'vitest';
import { BUN, start, type Running } from '../helpers/processes.ts';

/** A gateway process and its base URL. */
export interface GatewayProcess {
  url: string;
  process: Running;
}

/** Starts a Bun gateway process (gateway/entry/bun.ts) on the database, with the in-process event bus. */
export async function startGateway(databaseUrl: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const process = start(BUN, ['gateway/entry/bun.ts'], {
    env: { DATABASE_URL: databaseUrl, REDIS_URL: '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
  });
  const [, url] = (await process.waitFor(/"msg":"gateway listening[^\n]*?"url":"(http:[^"]+)"/, 30_000)) as unknown as [string, string];
  return { url, process };
}

/** An OpenAI SDK client of a gateway: the surface users call, across processes. */
export const clientOf = (url: string) => new OpenAI({ apiKey: 'unused', baseURL: `${url}/v1`, maxRetries: 0, timeout: 30_000 });

/** Options for {@link requestLines}. */
export interface LinesOptions {
  count: number;
  model: string;
  /** Prefix of the custom_ids: `${prefix}-1` ... */
  prefix?: string;
  endpoint?: '/v1/chat/completions' | '/v1/embeddings';
}

/** A batch input file of `count` requests for `model`, and its custom_ids. */
export function requestLines({ count, model, prefix = 'req', endpoint = '/v1/chat/completions' }: LinesOptions): {
  text: string;
  ids: string[];
} {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const body = (i: number) =>
    endpoint === '/v1/embeddings'
      ? { model, input: `passage ${i}` }
      : { model, messages: [{ role: 'user', content: `question ${i} of ${prefix}` }] };
  const text = ids.map((custom_id, i) => JSON.stringify({ custom_id, method: 'POST', url: endpoint, body: body(i) })).join('\n');
  return { text: `${text}\n`, ids };
}

/** Uploads the file and creates a batch from it. */
export async function submitBatch(
  client: OpenAI,
  text: string,
  endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions',
) {
  const file = await client.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint, completion_window: '24h' });
}

/**
 * Polls the batch until it reaches one of the statuses. Failed calls are retried: the
 * gateway may be down or reconnecting to its database while the test waits.
 */
export async function waitForStatus(client: OpenAI, batchId: string, statuses: string[], timeoutMs = 60_000): Promise<OpenAI.Batch> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await client.batches.retrieve(batchId).catch((error: unknown) => error);
    if (last && typeof last === 'object' && 'status' in last && statuses.includes((last as OpenAI.Batch).status))
      return last as OpenAI.Batch;
    if (Date.now() > deadline)
      throw new Error(
        `batch ${batchId} did not reach ${statuses.join('/')}; last seen: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One line of an output or error file. */
export interface ResultLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string | null; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

async function download(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ResultLine);
}

/**
 * Downloads the batch's output and error files through the gateway and checks the one
 * promise every scenario ends on: each input custom_id is in exactly one of them, once.
 */
export async function expectEachOnce(
  client: OpenAI,
  batch: OpenAI.Batch,
  ids: readonly string[],
): Promise<{ output: ResultLine[]; errors: ResultLine[] }> {
  const output = await download(client, batch.output_file_id);
  const errors = await download(client, batch.error_file_id);
  expect([...output, ...errors].map((l) => l.custom_id).sort()).toEqual([...ids].sort());
  // Requests ended by a cancel or an expiry are in the error file but not counted as failed (as OpenAI counts them).
  const failed = errors.filter((l) => l.error?.code !== 'batch_cancelled' && l.error?.code !== 'batch_expired');
  expect(batch.request_counts).toEqual({ total: ids.length, completed: output.length, failed: failed.length });
  return { output, errors };
}

/** Polls until `check` returns a truthy value (errors count as not yet). */
export async function until<T>(check: () => Promise<T>, what: string, timeoutMs = 60_000, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
