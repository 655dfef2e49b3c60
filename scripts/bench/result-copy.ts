// The lease path's second reference: a plain COPY of the same result rows into a table with only a primary key.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { newId } from '../../schema/index.ts';
import { ENGINE_REQUEST_ID, RESPONSE, type AroundRun } from './queue-loop.ts';

const ROWS_PER_CHUNK = 200;

/**
 * The rows the lease path's loops write, in COPY's text format: the results table's columns
 * with the same values and bytes (the response holds no tabs, newlines or backslashes).
 */
async function* resultRows(batchId: string, from: number, to: number): AsyncGenerator<string> {
  const at = new Date().toISOString();
  for (let first = from; first <= to; first += ROWS_PER_CHUNK) {
    let text = '';
    for (let line = first; line < first + ROWS_PER_CHUNK && line <= to; line++) {
      text += `${batchId}\t${line}\tsucceeded\t200\t${RESPONSE}\t${ENGINE_REQUEST_ID}\t\\N\t10\t100\t1\t${at}\t${at}\n`;
    }
    yield text;
  }
}

/**
 * Seconds for `streams` concurrent COPYs of `rows` result rows in all (the lines split evenly
 * between them) into a table shaped like `results` whose only index is its primary key, from the
 * first row sent to the last COPY committed: the most this machine's Postgres stores such rows at.
 */
export async function copyResults(url: string, rows: number, streams: number, around: AroundRun = (work) => work()): Promise<number> {
  const sql = postgres(url, { max: streams, onnotice: () => {} });
  try {
    await sql`create table result_copies (like results)`;
    await sql`alter table result_copies add primary key (batch_id, line)`;
    const batchId = newId('batch_');
    const share = Math.ceil(rows / streams);
    const started = performance.now();
    await around(() =>
      Promise.all(
        Array.from({ length: streams }, async (_, i) => {
          const from = i * share + 1;
          const to = Math.min(rows, (i + 1) * share);
          const writable =
            await sql`copy result_copies (batch_id, line, status, status_code, response, engine_request_id, error, prompt_tokens, completion_tokens, attempts, started_at, finished_at) from stdin`.writable();
          await pipeline(Readable.from(resultRows(batchId, from, to)), writable);
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from result_copies`;
    if (row?.n !== rows) throw new Error(`COPY stored ${row?.n} of ${rows} rows`);
    await sql`drop table result_copies`;
    return seconds;
  } finally {
    await sql.end();
  }
}
