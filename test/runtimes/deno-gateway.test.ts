import { createClient } from 'graphql-ws';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useTestDatabase } from '../helpers/database.ts';
import { DENO, start, type Running } from '../helpers/processes.ts';
import { BATCH_PROGRESS, first, readAll, wsClient, type ProgressResult } from '../events/harness.ts';
import { uniquePrefix } from '../events/helpers.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { chatLines, graphql, waitForStatus } from './helpers.ts';

const KEY = 'deno-gateway-key';

describe('the gateway on Deno (gateway/entry/deno.ts)', () => {
  const test = useTestDatabase();
  let gateway: Running;
  let url: string;
  let client: OpenAI;
  let batchId: string;

  beforeAll(async () => {
    // Redis as in a fleet deployment: the event bus's client (node-redis) runs on Deno too.
    const env = {
      DATABASE_URL: test().url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: uniquePrefix(),
      PORT: '0',
      HOST: '127.0.0.1',
      API_KEYS: KEY,
      LOG_LEVEL: 'info',
    };
    gateway = start(DENO, ['run', '-A', 'gateway/entry/deno.ts'], { env });
    const [, listening] = (await gateway.waitFor(
      /"msg":"gateway listening".*?"url":"(http:[^"]+)".*?"events":"redis".*?"runtime":"deno"/,
      60_000,
    )) as unknown as [string, string];
    url = listening;
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => gateway?.stop('SIGKILL'));

  it('uploads a file and creates a batch through the OpenAI SDK, validated on Deno', async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(chatLines(5)), 'five.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', bytes: Buffer.byteLength(chatLines(5)) });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(batch).toMatchObject({ object: 'batch', status: 'validating', input_file_id: file.id });
    batchId = batch.id;
    await waitForStatus(client, batchId, 'in_progress');
    expect(await client.batches.retrieve(batchId)).toMatchObject({
      model: 'sim-model',
      request_counts: { total: 5, completed: 0, failed: 0 },
    });
    const content = await client.files.content(file.id);
    expect(await content.text()).toBe(chatLines(5));
  });

  it('answers a GraphQL query from Postgres', async () => {
    const result = await graphql(url, KEY, `query ($id: ID!) { health batch(id: $id) { id status model requestCounts { total } } }`, {
      id: batchId,
    });
    expect(result).toEqual({
      data: { health: 'ok', batch: { id: batchId, status: 'in_progress', model: 'sim-model', requestCounts: { total: 5 } } },
    });
  });

  it('refuses a bad key on HTTP, as on every runtime', async () => {
    const response = await fetch(`${url}/v1/batches`, { headers: { authorization: 'Bearer wrong' } });
    expect(response.status).toBe(401);
  });

  it('delivers batchProgress over its own WebSocket support, from the first state to the cancel published on Redis', async () => {
    const ws = wsClient(url, { authorization: `Bearer ${KEY}` });
    try {
      const events = ws.iterate({ query: BATCH_PROGRESS, variables: { id: batchId } }) as AsyncIterableIterator<ProgressResult>;
      expect((await first(events)).data?.batchProgress).toMatchObject({ batchId, status: 'in_progress', total: 5, final: false });
      await client.batches.cancel(batchId);
      const rest = await readAll(events);
      expect(rest.at(-1)?.data?.batchProgress).toMatchObject({ batchId, status: 'cancelled', final: true });
    } finally {
      await ws.dispose();
    }
  });

  it('authenticates a WebSocket by the upgrade request Authorization header too', async () => {
    const ws = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { authorization: `Bearer ${KEY}` } });
        }
      },
      retryAttempts: 0,
    });
    try {
      const [result] = await readAll(ws.iterate({ query: '{ health }' }));
      expect(result).toEqual({ data: { health: 'ok' } });
    } finally {
      await ws.dispose();
    }
  });

  it('closes a WebSocket whose key is refused with 4403', async () => {
    const ws = wsClient(url, { authorization: 'Bearer wrong' });
    try {
      await expect(readAll(ws.iterate({ query: '{ health }' }))).rejects.toMatchObject({ code: 4403 });
    } finally {
      await ws.dispose();
    }
  });

  it('stops on SIGTERM with exit code 0, closing open WebSockets as going away', async () => {
    let connected!: () => void;
    const opened = new Promise<void>((resolve) => (connected = resolve));
    let closedWith!: (code: number) => void;
    const closed = new Promise<number>((resolve) => (closedWith = resolve));
    // Not lazy: the connection stays open with no operation running.
    const ws = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${KEY}` },
      lazy: false,
      retryAttempts: 0,
      // The close is expected here, not an error to print.
      onNonLazyError: () => {},
      on: { connected: () => connected(), closed: (event) => closedWith((event as { code: number }).code) },
    });
    try {
      await opened;
      expect(await gateway.stop('SIGTERM')).toBe(0);
      expect(await closed).toBe(1001);
    } finally {
      await ws.dispose();
    }
  });
});
