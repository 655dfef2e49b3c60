import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createRedisBus, type EventBus } from '../../core/events/index.ts';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { serveNode, type NodeServer } from '../../gateway/entry/node.ts';
import type { Gateway } from '../../gateway/start.ts';
import { batches, newId, type Database } from '../../schema/index.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { uniquePrefix } from './helpers.ts';

/** A gateway app in this process on a Redis bus, served on a real port, and a second bus as "another process". */
export interface TestGateway {
  app: ReturnType<typeof createApp>;
  url: string;
  /** The gateway's own bus. */
  bus: EventBus;
  /** Another connection to the same channels, as a worker or another replica would publish on. */
  remote: EventBus;
  prefix: string;
  close(): Promise<void>;
}

/** Starts the gateway app in-process on the given database, with Redis buses under a fresh prefix. */
export async function startTestGateway(database: Database, options: { env?: Record<string, string> } = {}): Promise<TestGateway> {
  const prefix = uniquePrefix();
  const bus = await createRedisBus({ url: TEST_REDIS_URL, prefix });
  const remote = await createRedisBus({ url: TEST_REDIS_URL, prefix });
  const config = loadGatewayConfig(options.env ?? {});
  const logger = createLogger({ level: 'silent' });
  const app = createApp({ config, database, logger, bus });
  const gateway = { fetch: app.fetch, database, logger, bus, graphqlWs: app.graphqlWs, close: async () => {} } as Gateway;
  const server: NodeServer = await serveNode(gateway, { port: 0, hostname: '127.0.0.1' });
  return {
    app,
    url: server.url,
    bus,
    remote,
    prefix,
    async close() {
      await server.close();
      await app.close();
      await Promise.all([bus.close(), remote.close()]);
    },
  };
}

/** Inserts a batch row as the Batch API would have created it. */
export async function insertBatch(database: Database, values: Partial<typeof batches.$inferInsert> = {}): Promise<string> {
  const id = values.id ?? newId('batch_');
  await database.db.insert(batches).values({
    id,
    owner: 'local',
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    status: 'in_progress',
    inputFileId: newId('file-'),
    expiresAt: new Date(Date.now() + 86_400_000),
    total: 10,
    ...values,
  });
  return id;
}

/** A GraphQL-over-SSE client (graphql-sse, distinct connections mode) of a gateway URL. */
export function sseClient(url: string, headers: Record<string, string> = {}) {
  return createSseClient({ url: `${url}/graphql`, headers, retryAttempts: 0 });
}

/** A graphql-ws client of a gateway URL. */
export function wsClient(url: string, connectionParams: Record<string, unknown> = {}) {
  return createWsClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

/** Reads a subscription to its end (or until `until` says stop), with a timeout that names what did arrive. */
export async function readAll<T>(
  iterator: AsyncIterableIterator<T>,
  { timeoutMs = 10_000, until }: { timeoutMs?: number; until?: (value: T) => boolean } = {},
): Promise<T[]> {
  const got: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`subscription did not end in ${timeoutMs} ms; got ${JSON.stringify(got)}`)), timeoutMs);
  });
  try {
    await Promise.race([
      (async () => {
        for await (const value of iterator) {
          got.push(value);
          if (until?.(value)) break;
        }
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    if (until) await iterator.return?.();
  }
  return got;
}

/** Reads a subscription until a value matches (included); the subscription stays open for more reading. */
export async function readUntil<T>(iterator: AsyncIterableIterator<T>, stop: (value: T) => boolean, timeoutMs = 60_000): Promise<T[]> {
  const got: T[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(got)}`)), timeoutMs);
  });
  try {
    for (;;) {
      const result = await Promise.race([iterator.next(), timeout]);
      if (result.done) throw new Error(`the subscription ended before a matching event; got ${JSON.stringify(got)}`);
      got.push(result.value);
      if (stop(result.value)) return got;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the first value of a subscription (it stays open). */
export async function first<T>(iterator: AsyncIterableIterator<T>, timeoutMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    if (result.done) throw new Error('the subscription ended before its first event');
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** The `batchProgress` subscription document. */
export const BATCH_PROGRESS = `subscription ($id: ID!) {
  batchProgress(id: $id) {
    batchId status total completed failed remaining promptTokens completionTokens
    tokensPerSecond requestsPerSecond estimatedSecondsLeft final updatedAt
  }
}`;

/** The shape of one `batchProgress` result. */
export interface ProgressResult {
  data?: {
    batchProgress: {
      batchId: string;
      status: string;
      total: number;
      completed: number;
      failed: number;
      remaining: number;
      final: boolean;
      estimatedSecondsLeft: number | null;
      tokensPerSecond: number;
    };
  };
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}
