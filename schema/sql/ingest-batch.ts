import { sql, type SQL } from 'drizzle-orm';
import { rows, type Database, type Executor } from '../db.ts';
import { copyRequests } from './copy-requests.ts';
import { cutRangesSql } from './cut-ranges.ts';
import { insertRequests, type NewRequest } from './insert-requests.ts';

/** Options for {@link ingestBatch}. */
export interface IngestBatchOptions {
  batchId: string;
  /** The validator holding the batch's validation lease. */
  validationOwner: string;
  /** Copied onto every request, so the lease query needs no join. */
  priority: number;
}

/** What {@link ingestBatch} did. */
export type IngestOutcome =
  | { kind: 'in_progress'; total: number; models: string[] }
  /** The batch left `validating` meanwhile (cancelled, or another validator took it): nothing was kept. */
  | { kind: 'lost' };

class Lost extends Error {}

/** The requests that went into the batch: how many, and the models they name. */
interface Seen {
  total: number;
  models: Set<string>;
}

/** Counts the requests of the pages passing through. */
function tally(pages: AsyncIterable<readonly NewRequest[]>): { seen: Seen; pages: AsyncGenerator<readonly NewRequest[]> } {
  const seen: Seen = { total: 0, models: new Set() };
  async function* counted() {
    for await (const page of pages) {
      seen.total += page.length;
      for (const request of page) seen.models.add(request.model);
      yield page;
    }
  }
  return { seen, pages: counted() };
}

/** Moves the batch to `in_progress` if it is still `validating` under this validator. */
async function start(
  run: (query: SQL) => Promise<unknown[]>,
  { batchId, validationOwner }: IngestBatchOptions,
  seen: Seen,
): Promise<IngestOutcome> {
  const model = seen.models.size === 1 ? [...seen.models][0] : null;
  const started = await run(
    sql`update batches set status = 'in_progress', in_progress_at = now(), total = ${seen.total}, model = ${model ?? null},
          validation_owner = null, validation_expires_at = null
        where id = ${batchId} and status = 'validating' and validation_owner = ${validationOwner}
        returning id`,
  );
  if (started.length === 0) throw new Lost();
  await run(cutRangesSql(batchId, { fresh: true }));
  return { kind: 'in_progress', total: seen.total, models: [...seen.models].sort() };
}

/**
 * Queues every request of a batch and moves it to `in_progress`, in one transaction, so
 * that a crash never leaves half a batch visible. `produce` yields pages of validated
 * requests, reading the input through the executor it is given; if it throws, nothing is
 * kept and the error propagates. The final update is conditional on the batch still
 * `validating` under this validator; when it is not, the transaction rolls back and the
 * outcome is `lost`.
 *
 * On Postgres the rows are streamed in with COPY while `produce` validates the next ones,
 * and `produce` is given the pool (`pooled` true: the COPY holds the transaction's
 * connection; the file it reads is committed and immutable, and a read may run ahead or fail
 * without harm to the transaction). On PGlite, where no other connection can read while the
 * transaction is open, `produce` reads through the transaction (`pooled` false), and each
 * page is inserted with {@link insertRequests} before the next is produced.
 */
export async function ingestBatch(
  database: Database,
  options: IngestBatchOptions,
  produce: (reader: Executor, pooled: boolean) => AsyncIterable<readonly NewRequest[]>,
): Promise<IngestOutcome> {
  const { batchId, priority } = options;
  try {
    if (database.copyTransaction) {
      return await database.copyTransaction(async (tx) => {
        const { seen, pages } = tally(produce(database.db, true));
        await copyRequests(tx, batchId, priority, pages);
        return start((query) => tx.query(query), options, seen);
      });
    }
    return await database.db.transaction(async (tx) => {
      const { seen, pages } = tally(produce(tx, false));
      for await (const page of pages) await insertRequests(tx, batchId, priority, page);
      return start((query) => rows(tx, query), options, seen);
    });
  } catch (error) {
    if (error instanceof Lost) return { kind: 'lost' };
    throw error;
  }
}
