import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll } from 'vitest';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../fleet/sim/index.ts';
import {
  batches,
  COMPLETED,
  cutRanges,
  FAILED,
  newId,
  RANGE_SUMS,
  requests,
  rows,
  streamResultLines,
  type Database,
} from '../../schema/index.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

/** Worker timings for tests: short leases and fast loops, so recovery takes seconds. */
export const FAST_WORKER_ENV = {
  LEASE_TTL_MS: '2000',
  HEARTBEAT_MS: '500',
  POLL_MS: '250',
  REAP_MS: '250',
  SWEEP_MS: '500',
  FLUSH_MS: '50',
  DRAIN_TIMEOUT_MS: '1000',
  ENGINE_BACKOFF_BASE_MS: '20',
  ENGINE_BACKOFF_MAX_MS: '200',
  BUN_CONFIG_MAX_HTTP_REQUESTS: '8192',
  LOG_LEVEL: 'info',
};

/** A simulator process and its URL. */
export interface Sim {
  url: string;
  process: Running;
}

/** Starts the simulator as a Bun process on a free port: `--ttft-ms 5 --tpot-ms 1` unless `args` say otherwise. */
export async function startSim(args: string[] = []): Promise<Sim> {
  const process = start(BUN, ['fleet/entry/sim.ts', '--port', '0', '--ttft-ms', '5', '--tpot-ms', '1', '--output-tokens', '16', ...args]);
  const [, url] = (await process.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
  return { url, process };
}

/** Starts a worker process and waits until it is ready. */
export async function startWorker(env: Record<string, string>): Promise<Running> {
  const worker = start(BUN, ['fleet/entry/worker.ts'], { env: { ...FAST_WORKER_ENV, ...env } });
  await worker.waitFor(/"msg":"worker ready"/, 30_000);
  return worker;
}

/** Options for {@link insertChatBatch}. */
export interface ChatBatchOptions {
  count: number;
  model?: string;
  maxTokens?: number;
  /** Replaces the body of these lines (1-based), e.g. with one the engine rejects. */
  bodies?: Record<number, unknown>;
}

/** Inserts an `in_progress` chat batch with `count` queued requests cut into ranges, as ingest would leave it, and returns its id. */
export async function insertChatBatch(
  database: Database,
  { count, model = 'sim-model', maxTokens, bodies = {} }: ChatBatchOptions,
): Promise<string> {
  const id = newId('batch_');
  await database.db.insert(batches).values({
    id,
    owner: 'local',
    endpoint: '/v1/chat/completions',
    model,
    completionWindow: '24h',
    status: 'in_progress',
    inputFileId: newId('file-'),
    total: count,
    inProgressAt: new Date(),
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  for (let from = 0; from < count; from += 1000) {
    await database.db.insert(requests).values(
      Array.from({ length: Math.min(1000, count - from) }, (_, k) => {
        const line = from + k + 1;
        const body = bodies[line] ?? {
          model,
          messages: [{ role: 'user', content: `question ${line}` }],
          ...(maxTokens ? { max_tokens: maxTokens } : {}),
        };
        return { batchId: id, line, customId: `req-${line}`, model, body: JSON.stringify(body) };
      }),
    );
  }
  await cutRanges(database.db, id);
  return id;
}

/** Waits until the batch reaches one of the statuses; throws with its counters when time runs out. */
export async function waitForBatch(database: Database, batchId: string, statuses: string[], timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [batch] = await rows<{ status: string; completed: number; failed: number; total: number }>(
      database.db,
      sql`select b.status, ${COMPLETED} as completed, ${FAILED} as failed, b.total from batches b ${RANGE_SUMS} where b.id = ${batchId}`,
    );
    if (batch && statuses.includes(batch.status)) return batch.status;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} did not reach ${statuses.join('/')}: ${JSON.stringify(batch)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One line of a result file, parsed. */
export interface ResultLine {
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

/** The batch's output and error files, parsed. */
export async function resultFiles(database: Database, batchId: string): Promise<{ output: ResultLine[]; errors: ResultLine[] }> {
  const read = async (kind: 'output' | 'error') => {
    const lines: ResultLine[] = [];
    for await (const line of streamResultLines(database.db, batchId, kind)) lines.push(JSON.parse(line) as ResultLine);
    return lines;
  };
  return { output: await read('output'), errors: await read('error') };
}

/** Every custom_id of the output and error files, sorted, duplicates kept. */
export async function answeredIds(database: Database, batchId: string): Promise<string[]> {
  const { output, errors } = await resultFiles(database, batchId);
  return [...output, ...errors].map((l) => l.custom_id).sort();
}

/** The custom_ids `req-1` ... `req-count`, sorted as strings. */
export const expectedIds = (count: number) => Array.from({ length: count }, (_, i) => `req-${i + 1}`).sort();

/** The simulator's gauges and counters from /metrics. */
export async function simMetrics(url: string): Promise<{ running: number; waiting: number; aborted: number; requests: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    running: value('vllm:num_requests_running'),
    waiting: value('vllm:num_requests_waiting'),
    aborted: value('sim:requests_aborted_total'),
    requests: value('sim:requests_total'),
  };
}

/** Polls until `check` returns a truthy value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, what = 'the condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A simulator served on a real socket in this process (Node's HTTP server), as a worker meets vLLM. */
export interface ServedSimulator {
  sim: Simulator;
  server: Server;
  url: string;
  /** Stops the simulator and closes its server, cutting open streams. */
  close(): Promise<void>;
}

/** Serves a simulator on 127.0.0.1 (a free port unless one is given). */
export async function serveSimulator(options: SimulatorOptions, port = 0): Promise<ServedSimulator> {
  const sim = createSimulator(options);
  const server = createAdaptorServer({ fetch: sim.fetch }) as Server;
  const url = await listenLocal(server, port);
  return {
    sim,
    server,
    url,
    async close() {
      sim.close();
      await closeServer(server);
    },
  };
}

/** A simulator served for the file's tests, with a watchdog for their engine clients. */
export function useServedSimulator(options: SimulatorOptions) {
  const watchdog = createWatchdog(50);
  let served: ServedSimulator | undefined;
  beforeAll(async () => {
    served = await serveSimulator(options);
  });
  afterAll(async () => {
    watchdog.close();
    await served?.close();
  });
  return { watchdog, url: () => served?.url ?? '' };
}
