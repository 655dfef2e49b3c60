import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { createEdgeHandler } from '../../gateway/edge.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { DENO, start, type Running } from '../helpers/processes.ts';
import { BATCH_PROGRESS, first, sseClient, type ProgressResult } from '../events/harness.ts';
import { chatLines, graphql } from './helpers.ts';

const KEY = 'edge-key';
const auth = { authorization: `Bearer ${KEY}` };

describe('the gateway as an edge module (gateway/edge.ts)', () => {
  const test = useTestDatabase();
  const handlers: { close(): Promise<void> }[] = [];
  let served: Running | undefined;
  let batchId: string;
  afterAll(async () => {
    // `deno serve` exits on SIGTERM only once the idle database connections time out (30 s): no need to wait here.
    await served?.stop('SIGKILL');
    await Promise.all(handlers.map((h) => h.close()));
  });

  it('serves the OpenAI API from one fetch function and hands background validation to waitUntil', async () => {
    const edge = createEdgeHandler({
      config: () =>
        loadGatewayConfig({ DATABASE_URL: test().url, API_KEYS: KEY, SECRETS_KEY: process.env.SECRETS_KEY, LOG_LEVEL: 'silent' }),
    });
    handlers.push(edge);
    const pending: Promise<unknown>[] = [];
    const context = { waitUntil: (promise: Promise<unknown>) => void pending.push(promise) };
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([chatLines(3)]), 'three.jsonl');
    const upload = await edge.fetch(new Request('http://edge.test/v1/files', { method: 'POST', headers: auth, body: form }), {}, context);
    expect(upload.status).toBe(200);
    const file = (await upload.json()) as { id: string };
    const create = await edge.fetch(
      new Request('http://edge.test/v1/batches', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
      }),
      {},
      context,
    );
    const created = (await create.json()) as { id: string; status: string };
    expect(created.status).toBe('validating');
    batchId = created.id;
    // What the platform keeps the isolate alive for: the validation started by the request.
    await Promise.all(pending);
    const batch = await edge.fetch(new Request(`http://edge.test/v1/batches/${created.id}`, { headers: auth }));
    expect(await batch.json()).toMatchObject({ id: created.id, status: 'in_progress', request_counts: { total: 3 } });
  });

  it('answers 500 misconfigured and logs the variable when DATABASE_URL is missing, then retries on the next request', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    let env: Record<string, string> = { API_KEYS: KEY };
    const edge = createEdgeHandler({ config: () => loadGatewayConfig(env) });
    handlers.push(edge);
    try {
      const refused = await edge.fetch(new Request('http://edge.test/v1/models', { headers: auth }));
      expect(refused.status).toBe(500);
      expect(await refused.json()).toMatchObject({ error: { code: 'misconfigured' } });
      expect(String(error.mock.calls[0]?.[0])).toContain('DATABASE_URL');
    } finally {
      error.mockRestore();
    }
    env = { API_KEYS: KEY, DATABASE_URL: test().url, SECRETS_KEY: process.env.SECRETS_KEY ?? '', LOG_LEVEL: 'silent' };
    const retried = await edge.fetch(new Request('http://edge.test/v1/models', { headers: auth }));
    expect(retried.status).toBe(200);
  });

  it('is served by `deno serve` as a module default export, as Deno Deploy runs it, subscriptions over SSE included', async () => {
    served = start(DENO, ['serve', '-A', '--port', '0', '--host', '127.0.0.1', 'gateway/edge.ts'], {
      env: { DATABASE_URL: test().url, API_KEYS: KEY, LOG_LEVEL: 'info' },
    });
    const [, url] = (await served.waitFor(/Listening on (http:\/\/[^/\s]+)/, 60_000)) as unknown as [string, string];
    expect(await graphql(url, KEY, '{ health models { name } }')).toEqual({ data: { health: 'ok', models: [] } });
    const unauthenticated = await fetch(`${url}/v1/models`);
    expect(unauthenticated.status).toBe(401);
    const sse = sseClient(url, auth);
    try {
      const events = sse.iterate({ query: BATCH_PROGRESS, variables: { id: batchId } }) as AsyncIterableIterator<ProgressResult>;
      expect((await first(events)).data?.batchProgress).toMatchObject({ batchId, status: 'in_progress', total: 3 });
      await events.return?.();
    } finally {
      sse.dispose();
    }
  });
});
