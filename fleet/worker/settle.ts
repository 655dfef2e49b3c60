import { publishBatchProgress, publishBatchStatuses, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import {
  CANCEL_CHANNEL,
  QUEUE_CHANNEL,
  settleBatch,
  type Database,
  type ReturnedLeases,
  type WrittenBatchCounters,
} from '../../schema/index.ts';
import { readBatchCounters } from '../../schema/sql/read-batch-counters.ts';

/** What settling and publishing need. */
export interface SettleDeps {
  database: Database;
  bus: EventBus;
  logger: Logger;
}

/** Settles each batch (the state machine takes whatever transition is due, once) and publishes the transitions. */
export async function settleAndPublish({ database, bus, logger }: SettleDeps, batchIds: Iterable<string>): Promise<void> {
  for (const batchId of new Set(batchIds)) {
    try {
      const transitions = await settleBatch(database.db, batchId);
      if (transitions.length) await publishBatchStatuses(bus, transitions);
    } catch (err) {
      // The sweeper settles leftovers (unsettled finished batches, stopping ones) every few seconds.
      logger.warn('settling a batch failed; the sweeper will settle it', { err, batchId });
    }
  }
}

/**
 * Publishes the counters a result write returned, then settles the batches it may have finished,
 * that are stopping, or that it took over their error budget: the settle records that and stops
 * the batch, and the NOTIFY on {@link CANCEL_CHANNEL} has every worker abort its streams at once.
 * A batch without a budget is never over it: its write costs no statement more.
 */
export async function publishWrite(deps: SettleDeps, counters: readonly WrittenBatchCounters[]): Promise<void> {
  await Promise.all(
    counters.map(({ batchId, owner, status, total, completed, failed, promptTokens, completionTokens }) =>
      publishBatchProgress(deps.bus, {
        batchId,
        owner,
        status,
        total,
        completed,
        failed,
        promptTokens,
        completionTokens,
      }).catch((err: unknown) => deps.logger.warn('publishing progress failed', { err, batchId })),
    ),
  );
  const due = counters.filter(
    (c) => (c.status === 'in_progress' && c.completed + c.failed >= c.total) || c.status === 'cancelling' || c.overBudget,
  );
  if (due.length)
    await settleAndPublish(
      deps,
      due.map((c) => c.batchId),
    );
  await notifyStops(
    deps,
    counters.filter((c) => c.overBudget).map((c) => c.batchId),
  );
}

/**
 * Publishes what returning leases did: wakes workers for requeued models, settles and reports
 * the batches touched. Lines failed out of attempts count against the error budget as any
 * failure does: a batch they take over it is stopped by the settle, and, as for a result write
 * ({@link publishWrite}), the NOTIFY on {@link CANCEL_CHANNEL} has every worker abort its
 * streams at once rather than at its next heartbeat.
 */
export async function afterReturnedLeases(deps: SettleDeps, returned: readonly ReturnedLeases[]): Promise<void> {
  const { database, bus } = deps;
  for (const model of new Set(returned.filter((r) => r.status === 'queued').map((r) => r.model))) {
    await database.notify(QUEUE_CHANNEL, model);
  }
  const touched = [...new Set(returned.filter((r) => r.status !== 'queued').map((r) => r.batchId))];
  if (touched.length === 0) return;
  const counters = await readBatchCounters(database.db, touched, { budget: true });
  for (const { overBudget: _, ...c } of counters) {
    await publishBatchProgress(bus, { ...c, batchId: c.id, status: c.status });
  }
  await settleAndPublish(deps, touched);
  await notifyStops(
    deps,
    counters.filter((c) => c.overBudget).map((c) => c.id),
  );
}

/** Has every worker abort the streams of batches just stopped over their error budget (the settle recorded it). */
async function notifyStops(deps: SettleDeps, batchIds: readonly string[]): Promise<void> {
  for (const batchId of batchIds) {
    await deps.database
      .notify(CANCEL_CHANNEL, batchId)
      .catch((err: unknown) => deps.logger.warn('notifying the stop failed', { err, batchId }));
  }
}
