import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyText } from '../copy-text.ts';
import type { CopyTransaction } from '../db.ts';
import type { NewRequest } from './insert-requests.ts';

const COLUMNS = ['batch_id', 'line', 'custom_id', 'model', 'body', 'priority'] as const;

/**
 * Pages of validated rows kept ahead of the COPY stream. Each page is written as soon as the
 * socket takes it, so validation of the next pages runs while Postgres stores the previous
 * ones; a few pages (of about 200 KB from the validator) bound the memory this costs.
 */
const PAGES_AHEAD = 4;

/**
 * Queues the requests of one batch with `COPY requests FROM STDIN` in the given transaction
 * (Postgres only; {@link insertRequests} is the statement for PGlite). Pages are streamed as
 * `pages` yields them, without waiting for Postgres between pages; resolves once every row is
 * stored. If `pages` throws, the COPY is aborted and the error propagates (the transaction
 * then keeps nothing).
 */
export async function copyRequests(
  tx: CopyTransaction,
  batchId: string,
  priority: number,
  pages: AsyncIterable<readonly NewRequest[]>,
): Promise<void> {
  const stream = await tx.copyFrom('requests', COLUMNS);
  const head = `${copyText(batchId)}\t`;
  const tail = `\t${priority}\n`;
  async function* text() {
    for await (const page of pages) {
      let out = '';
      for (const r of page) out += `${head}${r.line}\t${copyText(r.customId)}\t${copyText(r.model)}\t${copyText(r.body)}${tail}`;
      if (out !== '') yield out;
    }
  }
  await pipeline(Readable.from(text(), { highWaterMark: PAGES_AHEAD }), stream);
}
