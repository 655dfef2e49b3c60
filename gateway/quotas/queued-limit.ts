import { AppError } from '../../core/errors.ts';
import { countQueuedRequests, lockOwnerQueue, maxQueuedRequestsOf, type Executor } from '../../schema/index.ts';
import type { AppDeps } from '../app-deps.ts';

/** OpenAI's `code` of the 429 of a batch creation over the owner's queued-requests limit. */
export const QUEUED_LIMIT_REASON = 'queued_request_limit_exceeded';

const count = (n: number) => n.toLocaleString('en-US');

/** The 429 of a batch creation over the owner's queued-requests limit, in the words of OpenAI's enqueued-token limit. */
export function queuedLimitError(owner: string, limit: number, queued: number, adding: number): AppError {
  const alone =
    adding > limit ? ` This batch alone holds more than the limit: split it into batches of at most ${count(limit)} requests.` : '';
  return new AppError(
    'RATE_LIMITED',
    `Enqueued request limit reached for ${owner}. Limit: ${count(limit)} queued requests; queued now: ${count(queued)}; this batch: ${count(adding)}.${alone} Please try again once some of your batches have finished, or ask an administrator to raise the limit (setOwnerLimits).`,
    { reason: QUEUED_LIMIT_REASON },
  );
}

/**
 * Runs a batch creation (`create`, given the executor to write with) under the owner's limit
 * of queued requests (its own, else MAX_QUEUED_REQUESTS_PER_OWNER). Without a limit it just
 * runs. With one, it runs in a transaction holding the owner's advisory lock, so creations of
 * one owner on any replica take turns: the queued requests are counted before and after the
 * new batch is written (its requests, or its input file's lines while it validates), and a
 * count over the limit rolls the batch back and answers 429.
 */
export async function withinQueuedLimit<T>(deps: AppDeps, owner: string, create: (db: Executor) => Promise<T>): Promise<T> {
  const { db } = deps.database;
  const limit = await maxQueuedRequestsOf(db, owner, deps.config.MAX_QUEUED_REQUESTS_PER_OWNER ?? null);
  if (limit === null) return create(db);
  return db.transaction(async (tx) => {
    await lockOwnerQueue(tx, owner);
    const before = await countQueuedRequests(tx, owner);
    const created = await create(tx);
    const after = await countQueuedRequests(tx, owner);
    if (after > limit) throw queuedLimitError(owner, limit, before, after - before);
    return created;
  });
}
