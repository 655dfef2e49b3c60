import { AppError } from '../../core/errors.ts';
import { TOPICS, type BusEvent, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import { isTerminalBatchStatus, type Database } from '../../schema/index.ts';
import type { BatchCountersRow } from '../../schema/sql/read-batch-counters.ts';
import { readBatchProgress, type BatchProgressRow } from '../../schema/sql/read-batch-progress.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { ProgressState, type BatchProgress, type ProgressCounters } from './progress-state.ts';
import { createSink, type Sink } from './sink.ts';

/** Options for {@link createProgressHub}. */
export interface ProgressHubOptions {
  database: Database;
  bus: EventBus;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
  /** Counter changes of a batch go out at most once per this many milliseconds (the first after a quiet spell at once); a new status always at once. */
  intervalMs?: number;
  /** How often the batches being watched are read again, in one statement, in case an event was lost. */
  resyncMs?: number;
}

/** Shares one bus subscription, one state and one throttle per batch among all of its subscribers in this process. */
export interface ProgressHub {
  /** The current state first, then every change (coalesced), ending after the final state. NOT_FOUND for another owner's batch. */
  watch(batchId: string, owner: string): Promise<AsyncIterableIterator<BatchProgress>>;
  /** How many batches have subscribers now. */
  readonly batches: number;
  close(): Promise<void>;
}

interface Entry {
  batchId: string;
  refs: number;
  state: ProgressState | null;
  /** Events that arrived before the first read gave the state a start. */
  early: BusEvent[];
  sinks: Set<Sink<BatchProgress>>;
  subscribed: Promise<() => Promise<void>>;
  /** The read of the row under way, and when it began (what it says of a pause is as of then). */
  reading: Promise<{ row: BatchProgressRow | undefined; at: number }> | null;
  lastEmitAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  finishing: boolean;
}

const countersOf = (row: BatchCountersRow): ProgressCounters => ({
  status: row.status,
  total: row.total,
  completed: row.completed,
  failed: row.failed,
  promptTokens: row.promptTokens,
  completionTokens: row.completionTokens,
});

/** Creates the hub behind `batchProgress`: events fan out per batch, and Postgres is read once per subscribe (shared by concurrent ones). */
export function createProgressHub({
  database,
  bus,
  logger,
  metrics,
  intervalMs = 250,
  resyncMs = 30_000,
}: ProgressHubOptions): ProgressHub {
  const entries = new Map<string, Entry>();

  const read = (entry: Entry) => {
    const at = Date.now();
    entry.reading ??= readBatchProgress(database.db, [entry.batchId])
      .then(([row]) => ({ row, at }))
      .finally(() => {
        entry.reading = null;
      });
    return entry.reading;
  };

  const flush = (entry: Entry) => {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    if (!entry.state) return;
    entry.lastEmitAt = Date.now();
    const progress = entry.state.snapshot(entry.lastEmitAt);
    for (const sink of entry.sinks) {
      sink.push(progress);
      if (progress.final) sink.end();
    }
    metrics?.eventsDelivered.inc({ subscription: 'batchProgress' }, entry.sinks.size);
    if (progress.final) entry.sinks.clear();
  };

  const finish = async (entry: Entry) => {
    if (entry.finishing) return;
    entry.finishing = true;
    // The counters of the final event come from the row: the last progress event of
    // another publisher may still be on its way.
    try {
      const { row, at } = await read(entry);
      if (row) {
        entry.state?.merge(countersOf(row));
        entry.state?.setPaused(row.pausedAtMs, at);
      }
    } catch (err) {
      logger.warn('batch progress: could not read the final counters; sending what is known', { batch_id: entry.batchId, err });
    }
    flush(entry);
  };

  /** Sends the change now, or when the interval since the last event ends; a new status always goes at once. */
  const changed = (entry: Entry, statusChanged = false) => {
    if (!entry.state || entry.sinks.size === 0) return;
    if (entry.state.ended) {
      void finish(entry);
      return;
    }
    const wait = entry.lastEmitAt + intervalMs - Date.now();
    if (wait <= 0 || statusChanged) flush(entry);
    else entry.timer ??= setTimeout(() => flush(entry), wait);
  };

  /** Merges counters into the batch's state and sends the change if there is one. */
  const update = (entry: Entry, counters: Partial<ProgressCounters>, at?: number) => {
    if (!entry.state) return;
    const before = entry.state.status;
    if (entry.state.merge(counters, at)) changed(entry, entry.state.status !== before);
  };

  /** Takes in a pause or resume; a change goes out at once, as a new status does. */
  const pausedChanged = (entry: Entry, pausedAtMs: number | null, at: number) => {
    if (entry.state?.setPaused(pausedAtMs, at)) changed(entry, true);
  };

  const apply = (entry: Entry, event: BusEvent) => {
    if (event.type === 'batch.progress') update(entry, event, event.at);
    else if (event.type === 'batch.paused') pausedChanged(entry, event.pausedAt, event.at);
    else if (event.type === 'batch.status' && entry.state?.status === 'validating' && event.status === 'in_progress') {
      // Validation ends with the batch's total known only to its row: read it once for every
      // subscriber, rather than send `in_progress` with a total of 0.
      read(entry).then(
        ({ row }) => update(entry, row ? countersOf(row) : { status: event.status }, event.at),
        (err) => {
          logger.warn('batch progress: could not read the counters after validation', { batch_id: entry.batchId, err });
          update(entry, { status: event.status }, event.at);
        },
      );
    } else if (event.type === 'batch.status') update(entry, { status: event.status }, event.at);
  };

  const acquire = (batchId: string): Entry => {
    let entry = entries.get(batchId);
    if (!entry) {
      const created: Entry = {
        batchId,
        refs: 0,
        state: null,
        early: [],
        sinks: new Set(),
        subscribed: Promise.resolve(async () => {}),
        reading: null,
        lastEmitAt: 0,
        timer: null,
        finishing: false,
      };
      created.subscribed = bus.subscribe(TOPICS.batch(batchId), (event) => {
        metrics?.eventsReceived.inc({ type: event.type });
        if (created.state) apply(created, event);
        else created.early.push(event);
      });
      entries.set(batchId, (entry = created));
    }
    entry.refs += 1;
    return entry;
  };

  const release = (entry: Entry) => {
    entry.refs -= 1;
    if (entry.refs > 0) return;
    if (entry.timer) clearTimeout(entry.timer);
    if (entries.get(entry.batchId) === entry) entries.delete(entry.batchId);
    void entry.subscribed.then((stop) => stop()).catch(() => {});
  };

  const resync = setInterval(() => {
    const watched = [...entries.values()].filter((e) => e.state && !e.state.ended && e.sinks.size > 0);
    if (watched.length === 0) return;
    const at = Date.now();
    readBatchProgress(
      database.db,
      watched.map((e) => e.batchId),
    ).then(
      (rows) => {
        for (const row of rows) {
          const entry = entries.get(row.id);
          if (!entry) continue;
          update(entry, countersOf(row));
          pausedChanged(entry, row.pausedAtMs, at);
        }
      },
      (err) => logger.warn('batch progress: resync read failed', { err }),
    );
  }, resyncMs);
  resync.unref?.();

  return {
    get batches() {
      return entries.size;
    },
    async watch(batchId, owner) {
      const entry = acquire(batchId);
      try {
        await entry.subscribed;
        const { row, at } = await read(entry);
        if (!row || row.owner !== owner)
          throw new AppError('NOT_FOUND', `No batch with id ${batchId}; check the id (batches of other API keys are not visible).`, {
            param: 'id',
          });
        if (entry.state) {
          update(entry, countersOf(row));
          pausedChanged(entry, row.pausedAtMs, at);
        } else {
          entry.state = new ProgressState(batchId, countersOf(row), Date.now(), row.pausedAtMs, at);
          for (const event of entry.early.splice(0)) apply(entry, event);
          // Ended by an event that overtook the read: the final counters are in the row by now.
          if (entry.state.ended && !isTerminalBatchStatus(row.status)) {
            const [final] = await readBatchProgress(database.db, [batchId]);
            if (final) entry.state.merge(countersOf(final));
          }
        }
      } catch (err) {
        release(entry);
        throw err;
      }
      const state = entry.state;
      metrics?.subscriptions.inc({ subscription: 'batchProgress' });
      const sink = createSink<BatchProgress>({
        mode: 'latest',
        onClose: () => {
          entry.sinks.delete(sink);
          metrics?.subscriptions.dec({ subscription: 'batchProgress' });
          release(entry);
        },
      });
      sink.push(state.snapshot());
      metrics?.eventsDelivered.inc({ subscription: 'batchProgress' });
      if (state.ended) sink.end();
      else entry.sinks.add(sink);
      return sink;
    },
    async close() {
      clearInterval(resync);
      const all = [...entries.values()];
      entries.clear();
      for (const entry of all) {
        if (entry.timer) clearTimeout(entry.timer);
        for (const sink of entry.sinks) sink.end();
        entry.sinks.clear();
      }
      await Promise.allSettled(all.map((e) => e.subscribed.then((stop) => stop())));
    },
  };
}
