// Lease-path costs, a diagnostic (not in `npm run bench`): CPU per 1,000 rows of each statement the
// lease path runs, on one connection, one statement at a time, so that a shared machine's load moves
// the figures less than it moves throughput. The backend's CPU is read in /proc, this process's with
// process.cpuUsage (the client's share: building the statement, the driver). Each figure is the
// median of `--repeat` runs, each on a fresh scratch database of `--jobs` lines ingested and cut as
// in production. The statements run as the worker runs them (`leaseRequests` and `completeRequests`
// on a drizzle database: named prepared statements on postgres.js) and, for comparison, unnamed as
// drizzle's `execute` sends them (parsed and planned on every call); also measured, a bare INSERT of
// the same rows from unnest arrays (no ranges) and COPY of the same rows; and the write as the worker
// sends it on Postgres since 2026-12-04, its rows by COPY (`copyResults`), on a connection of its own.
// Usage: bun scripts/bench/lease-costs.ts [--jobs 30000] [--repeat 3]
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import {
  completeRequests,
  createDatabase,
  leaseRequests,
  leaseRequestsSql,
  rows,
  type Executor,
  type LeasedRequest,
} from '../../schema/index.ts';
import { cpuSeconds } from './postgres-cpu.ts';
import { ENGINE_REQUEST_ID, RESPONSE, resultsOf } from './queue-loop.ts';
import { createScratchDatabase, queueBatch, round, sizesFor } from './support.ts';

const SIZES = sizesFor({ jobs: 3000, repeat: 1 }, { jobs: 30_000, repeat: 3 });
const MODEL = 'sim-model';
const dialect = new PgDialect();

/**
 * A connection whose backend's CPU can be read: prepared, a drizzle database as the worker's (the
 * lease and the result write go as named prepared statements); else one that sends every drizzle
 * statement unnamed, as drizzle's `execute` does.
 */
async function connect(url: string, prepare: boolean) {
  const client = postgres(url, { max: 1, onnotice: () => {}, prepare });
  // drizzle sets the client's JSON handling as the project's connections have it.
  const db = drizzle({ client }) as unknown as Executor;
  const [row] = await client<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const unnamed = {
    execute: (query: SQL) => {
      const { sql: text, params } = dialect.sqlToQuery(query);
      return client.unsafe(text, params as never[], { prepare: false });
    },
  } as unknown as Executor;
  return { client, executor: prepare ? db : unnamed, pid: row!.pid, url };
}

type Connection = Awaited<ReturnType<typeof connect>>;

/** CPU ms per 1,000 rows of `work` on `connection`: its backend's and this process's. */
async function cpuOf(connection: Connection, work: () => Promise<number>): Promise<{ server: number; client: number }> {
  const server = cpuSeconds(connection.pid) ?? Number.NaN;
  const client = process.cpuUsage();
  const rows = await work();
  const used = process.cpuUsage(client);
  return { server: ((cpuSeconds(connection.pid)! - server) * 1e6) / rows, client: (used.user + used.system) / 1000 / (rows / 1000) };
}

/** One measurement on a fresh database: the queue ingested, then `measure` on a new connection. */
async function onFreshQueue(
  prepare: boolean,
  measure: (connection: Connection, leaseAll: (limit: number) => Promise<LeasedRequest[]>) => Promise<{ server: number; client: number }>,
) {
  const scratch = await createScratchDatabase('lease-costs', 1);
  const connection = await connect(scratch.url, prepare);
  try {
    await queueBatch(scratch.database, {
      lines: SIZES.jobs,
      model: MODEL,
      body: (line) => `{"model":"${MODEL}","messages":[{"role":"user","content":"question ${line}"}]}`,
    });
    await connection.client`vacuum analyze`;
    const leaseAll = async (limit: number) => {
      const all: LeasedRequest[] = [];
      for (;;) {
        const options = { owner: 'o', model: MODEL, limit, leaseMs: 600_000 };
        const leased = prepare
          ? await leaseRequests(connection.executor, options)
          : ((await connection.executor.execute(leaseRequestsSql(options))) as unknown as LeasedRequest[]);
        if (leased.length === 0) return all;
        all.push(...leased);
      }
    };
    return await measure(connection, leaseAll);
  } finally {
    await connection.client.end();
    await scratch.drop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The median over the repeats. */
async function repeated(label: string, run: () => Promise<{ server: number; client: number }>) {
  const runs = [];
  for (let i = 0; i < SIZES.repeat; i++) runs.push(await run());
  const server = median(runs.map((r) => r.server));
  const client = median(runs.map((r) => r.client));
  console.log(`| ${label} | ${round(server, 1)} | ${round(client, 1)} | ${round(server + client, 1)} |`);
}

const lease = (limit: number, prepare: boolean) => () =>
  onFreshQueue(prepare, (c, leaseAll) => cpuOf(c, async () => (await leaseAll(limit)).length));
const write = (page: number, prepare: boolean) => () =>
  onFreshQueue(prepare, async (c, leaseAll) => {
    const leased = await leaseAll(100_000);
    return cpuOf(c, async () => {
      for (let k = 0; k < leased.length; k += page)
        await completeRequests(c.executor, 'o', resultsOf(leased.slice(k, k + page), Date.now()));
      return leased.length;
    });
  });
/** As the worker writes on Postgres: the held ranges locked, the rows by COPY straight into results, the ranges bumped (`copyResults`). */
const writeByCopy = (page: number) => () =>
  onFreshQueue(true, async (c, leaseAll) => {
    const leased = await leaseAll(100_000);
    const database = await createDatabase({ url: c.url, maxConnections: 1 });
    try {
      const [row] = await rows<{ pid: number }>(database.db, sql`select pg_backend_pid() as pid`);
      return await cpuOf({ ...c, pid: row!.pid }, async () => {
        for (let k = 0; k < leased.length; k += page)
          await completeRequests(database.db, 'o', resultsOf(leased.slice(k, k + page), Date.now()), database.copyTransaction);
        return leased.length;
      });
    } finally {
      await database.close();
    }
  });
const bareInsert = () =>
  onFreshQueue(false, (c) =>
    cpuOf(c, async () => {
      for (let from = 1; from <= SIZES.jobs; from += 256) {
        const lines = Array.from({ length: Math.min(256, SIZES.jobs - from + 1) }, (_, i) => from + i);
        await c.client`insert into results (batch_id, line, status, status_code, response, engine_request_id, prompt_tokens, completion_tokens, attempts, started_at)
          select 'batch_bare', x.line, 'succeeded', 200, x.response, ${ENGINE_REQUEST_ID}, 10, 100, 1, now()
          from unnest(${lines}::int[], ${lines.map(() => RESPONSE)}::text[]) as x(line, response) on conflict do nothing`;
      }
      return SIZES.jobs;
    }),
  );
const copy = () =>
  onFreshQueue(false, (c) =>
    cpuOf(c, async () => {
      const at = new Date().toISOString();
      const writable =
        await c.client`copy results (batch_id, line, status, status_code, response, engine_request_id, error, prompt_tokens, completion_tokens, attempts, started_at, finished_at) from stdin`.writable();
      async function* text() {
        for (let from = 1; from <= SIZES.jobs; from += 200) {
          let chunk = '';
          for (let line = from; line < from + 200 && line <= SIZES.jobs; line++)
            chunk += `batch_copy\t${line}\tsucceeded\t200\t${RESPONSE}\t${ENGINE_REQUEST_ID}\t\\N\t10\t100\t1\t${at}\t${at}\n`;
          yield chunk;
        }
      }
      await pipeline(Readable.from(text()), writable);
      return SIZES.jobs;
    }),
  );

console.log(`CPU ms per 1,000 rows, ${SIZES.jobs} lines, median of ${SIZES.repeat}; one connection, statements one at a time\n`);
console.log('| statement | Postgres backend | client (Bun) | total |\n| --- | --- | --- | --- |');
await repeated('leaseRequests, limit 512, unnamed', lease(512, false));
await repeated('leaseRequests, limit 2048, unnamed', lease(2048, false));
await repeated('leaseRequests, limit 512, prepared (as the worker)', lease(512, true));
await repeated('leaseRequests, limit 2048, prepared (as the worker)', lease(2048, true));
await repeated('completeRequests, 64 a write, unnamed', write(64, false));
await repeated('completeRequests, 256 a write, unnamed', write(256, false));
await repeated('completeRequests, 1024 a write, unnamed', write(1024, false));
await repeated('completeRequests, 256 a write, prepared (as the worker)', write(256, true));
await repeated('completeRequests, 1024 a write, prepared (as the worker)', write(1024, true));
await repeated('completeRequests, 1024 a write, by COPY (as the worker on Postgres)', writeByCopy(1024));
await repeated('completeRequests, 256 a write, by COPY', writeByCopy(256));
await repeated('bare INSERT from unnest arrays, 256 a statement (no ranges)', bareInsert);
await repeated('COPY of the same rows, one stream', copy);
