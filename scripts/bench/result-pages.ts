// Result storage, a diagnostic (not in `npm run bench`): what storing results several to a row would
// buy. The same 695-byte results as the lease path's, stored two ways on one scratch database, four
// streams each: one row per result by COPY (`result-copy.ts`, the lease path's second reference), and
// one row per page of `--page` results whose columns are arrays (the responses one TOASTed text[]),
// inserted as array parameters. Prints each side's rows per second, their ratio, and the pages' CPU
// per 1,000 results (Postgres's backends, read in /proc, and this process's).
// Usage: bun scripts/bench/result-pages.ts [--rows 100000] [--page 1024] [--rounds 2]
import postgres from 'postgres';
import { cpuSeconds } from './postgres-cpu.ts';
import { ENGINE_REQUEST_ID, RESPONSE } from './queue-loop.ts';
import { copyResults } from './result-copy.ts';
import { createScratchDatabase, round, sizesFor } from './support.ts';

const SIZES = sizesFor({ rows: 10_000, page: 1024, rounds: 1 }, { rows: 100_000, page: 1024, rounds: 2 });
const STREAMS = 4;

/** A Postgres array literal of text elements, each quoted. */
const textArray = (values: readonly string[]) => `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
/** A Postgres array literal of n copies of a number. */
const numbers = (n: number, value: number) => `{${Array.from({ length: n }, () => value).join(',')}}`;

/** Seconds and CPU to insert SIZES.rows results as pages of SIZES.page rows, in STREAMS concurrent streams. */
async function insertPages(url: string) {
  const sql = postgres(url, { max: STREAMS, onnotice: () => {} });
  try {
    await sql`create table result_pages (
      batch_id text, first_line int, lines int[], status text[], status_code int[], response text[], engine_request_id text[],
      prompt_tokens int[], completion_tokens int[], attempts int[], started_at timestamptz[], finished_at timestamptz,
      primary key (batch_id, first_line))`;
    const streams = await Promise.all(Array.from({ length: STREAMS }, () => sql.reserve()));
    const pids = await Promise.all(streams.map(async (c) => (await c<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid));
    const before = pids.map((pid) => cpuSeconds(pid) ?? Number.NaN);
    const client = process.cpuUsage();
    const started = performance.now();
    const at = `"${new Date().toISOString()}"`;
    const pages = Math.ceil(SIZES.rows / SIZES.page);
    let next = 0;
    await Promise.all(
      streams.map(async (c) => {
        for (let p = next++; p < pages; p = next++) {
          const first = p * SIZES.page + 1;
          const n = Math.min(SIZES.page, SIZES.rows - first + 1);
          const lines = Array.from({ length: n }, (_, i) => first + i);
          await c.unsafe(
            `insert into result_pages values ($1, $2, $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::int[], $9::int[], $10::int[], $11::timestamptz[], now())`,
            [
              'batch_pages',
              first,
              `{${lines.join(',')}}`,
              textArray(lines.map(() => 'succeeded')),
              numbers(n, 200),
              textArray(lines.map(() => RESPONSE)),
              textArray(lines.map(() => ENGINE_REQUEST_ID)),
              numbers(n, 10),
              numbers(n, 100),
              numbers(n, 1),
              `{${lines.map(() => at).join(',')}}`,
            ],
            { prepare: true },
          );
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(client);
    const postgresSeconds = pids.reduce((sum, pid, i) => sum + (cpuSeconds(pid) ?? Number.NaN) - before[i]!, 0);
    for (const c of streams) c.release();
    return {
      seconds,
      postgresMs: (postgresSeconds * 1e6) / SIZES.rows,
      clientMs: (used.user + used.system) / 1000 / (SIZES.rows / 1000),
    };
  } finally {
    await sql.end();
  }
}

console.log(`${SIZES.rows} results of ${RESPONSE.length} bytes, ${STREAMS} streams, pages of ${SIZES.page}`);
for (let r = 1; r <= SIZES.rounds; r++) {
  const scratch = await createScratchDatabase('result-pages');
  try {
    const copySeconds = await copyResults(scratch.url, SIZES.rows, STREAMS);
    const pages = await insertPages(scratch.url);
    console.log(
      `round ${r}: COPY, a row per result ${round(SIZES.rows / copySeconds)} rows/s; a row per page ${round(SIZES.rows / pages.seconds)} results/s ` +
        `(${round(copySeconds / pages.seconds, 2)} × COPY); the pages' CPU per 1,000 results, Postgres ${round(pages.postgresMs, 1)} ms, client ${round(pages.clientMs, 1)} ms`,
    );
  } finally {
    await scratch.drop();
  }
}
