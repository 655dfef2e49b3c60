import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../db.ts';
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

/**
 * Queues every request of a batch and moves it to `in_progress`, in one transaction, so
 * that a crash never leaves half a batch visible. `produce` yields pages of validated
 * requests and reads the input through the transaction it is given (on PGlite no other
 * connection can read while the transaction is open); if it throws, nothing is kept and the
 * error propagates. The final update is conditional on the batch still `validating` under
 * this validator; when it is not, the transaction rolls back and the outcome is `lost`.
 */
export async function ingestBatch(
  db: Executor,
  { batchId, validationOwner, priority }: IngestBatchOptions,
  produce: (tx: Executor) => AsyncIterable<readonly NewRequest[]>,
): Promise<IngestOutcome> {
  try {
    return await db.transaction(async (tx) => {
      let total = 0;
      const models = new Set<string>();
      for await (const page of produce(tx)) {
        await insertRequests(tx, batchId, priority, page);
        total += page.length;
        for (const request of page) models.add(request.model);
      }
      const model = models.size === 1 ? [...models][0] : null;
      const started = await rows<{ id: string }>(
        tx,
        sql`update batches set status = 'in_progress', in_progress_at = now(), total = ${total}, model = ${model ?? null},
              validation_owner = null, validation_expires_at = null
            where id = ${batchId} and status = 'validating' and validation_owner = ${validationOwner}
            returning id`,
      );
      if (started.length === 0) throw new Lost();
      return { kind: 'in_progress' as const, total, models: [...models].sort() };
    });
  } catch (error) {
    if (error instanceof Lost) return { kind: 'lost' };
    throw error;
  }
}
