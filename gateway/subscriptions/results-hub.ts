import { AppError } from '../../core/errors.ts';
import { TOPICS, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import { isTerminalBatchStatus, type Database } from '../../schema/index.ts';
import { readResultPage } from '../../schema/sql/read-result-page.ts';
import type { FinishedRequestState } from '../../schema/states/request-state.ts';
import type { GatewayMetrics } from '../metrics.ts';

/** One result as `batchResults` sends it: the line its result file holds for it. */
export interface ResultLine {
  line: number;
  customId: string;
  status: FinishedRequestState;
  /** `output` for succeeded requests, `error` for the rest: the file the line is in. */
  file: 'output' | 'error';
  outputLine: string;
}

/** Options for {@link createResultsHub}. */
export interface ResultsHubOptions {
  database: Database;
  bus: EventBus;
  logger: Logger;
  metrics?: GatewayMetrics | undefined;
  /** Request lines per page read (pages are aligned to multiples of it, so subscribers share them). */
  pageLines?: number;
  /** Pages whose lines are all final kept per batch for the next subscriber that reaches them. */
  cachedPages?: number;
  /** The batch's events wake its waiting subscribers at most once per this many milliseconds. */
  wakeMs?: number;
  /** How often waiting subscribers look again without an event (a lost event costs at most this). */
  pollMs?: number;
}

/** Shares the page reads of a batch among the subscribers of `batchResults` in this process. */
export interface ResultsHub {
  /** The results from line `fromLine` in line order, what is written first, then as written; ends after the batch ended and its last line. */
  watch(batchId: string, owner: string, fromLine: number): Promise<AsyncIterableIterator<ResultLine>>;
  /** How many batches have subscribers now. */
  readonly batches: number;
  close(): Promise<void>;
}

/** A page as subscribers walk it: each request line with its result, or null while it has none. */
interface Page {
  start: number;
  /** The batch's generation when the read started: an event after it may have brought more. */
  generation: number;
  owner: string;
  /** The batch had ended in the page's snapshot: a line without a result will never have one. */
  ended: boolean;
  lines: { line: number; result: ResultLine | null }[];
  next: number | null;
  /** Nothing in the page can change any more: it may be kept and shared. */
  final: boolean;
}

interface Entry {
  batchId: string;
  refs: number;
  /** Incremented by every wake-up: a page read in an older generation may be stale. */
  generation: number;
  /** Final pages, least recently used first. */
  cache: Map<number, Page>;
  /** Reads of pages that may still change, one per start line, for the generation they began in. */
  reading: Map<number, { generation: number; page: Promise<Page | undefined> }>;
  waiters: Set<() => void>;
  subscribed: Promise<() => Promise<void>>;
  lastWakeAt: number;
  wakeTimer: ReturnType<typeof setTimeout> | null;
}

const notFound = (batchId: string) =>
  new AppError('NOT_FOUND', `No batch with id ${batchId}; check the id (batches of other API keys are not visible).`, {
    param: 'batchId',
  });

/**
 * Creates the hub behind `batchResults`. Results are read from Postgres in pages of request
 * lines aligned to `pageLines`, so subscribers at the same place share one read: one statement
 * per page per wake-up for all of them, however many they are. A subscriber holds at most one
 * page; a batch keeps at most `cachedPages` final pages. Wake-ups come from the batch's events
 * on the bus (a worker's progress after each result write, status changes), so they reach every
 * replica with Redis, and from a slow poll in case one was lost.
 */
export function createResultsHub({
  database,
  bus,
  logger,
  metrics,
  pageLines = 256,
  cachedPages = 4,
  wakeMs = 100,
  pollMs = 5_000,
}: ResultsHubOptions): ResultsHub {
  const entries = new Map<string, Entry>();
  let shut = false;

  const wake = (entry: Entry) => {
    if (entry.wakeTimer) clearTimeout(entry.wakeTimer);
    entry.wakeTimer = null;
    entry.lastWakeAt = Date.now();
    entry.generation += 1;
    // Reads begun before may have missed what woke us: the next caller reads again.
    entry.reading.clear();
    const waiters = [...entry.waiters];
    entry.waiters.clear();
    for (const resolve of waiters) resolve();
  };

  /** A wake-up now, or when `wakeMs` since the last one has passed. */
  const nudge = (entry: Entry) => {
    const wait = entry.lastWakeAt + wakeMs - Date.now();
    if (wait <= 0) wake(entry);
    else entry.wakeTimer ??= setTimeout(() => wake(entry), wait);
  };

  const toPage = (start: number, generation: number, read: Awaited<ReturnType<typeof readResultPage>>): Page | undefined => {
    if (!read) return undefined;
    const ended = isTerminalBatchStatus(read.status);
    const lines = read.rows.map((row) => ({
      line: row.line,
      result:
        row.status === null || row.text === null
          ? null
          : {
              line: row.line,
              customId: row.customId,
              status: row.status,
              file: row.status === 'succeeded' ? ('output' as const) : ('error' as const),
              outputLine: row.text,
            },
    }));
    const complete = lines.every((l) => l.result !== null);
    return {
      start,
      generation,
      owner: read.owner,
      ended,
      lines,
      next: read.next,
      final: ended || (complete && read.next !== null),
    };
  };

  /** The page starting at `start`: from the cache, from a read under way in this generation, or read now. */
  const page = (entry: Entry, start: number): Promise<Page | undefined> => {
    const cached = entry.cache.get(start);
    if (cached) {
      entry.cache.delete(start);
      entry.cache.set(start, cached);
      return Promise.resolve(cached);
    }
    const current = entry.reading.get(start);
    if (current && current.generation === entry.generation) return current.page;
    const generation = entry.generation;
    const read = readResultPage(database.db, entry.batchId, start, start + pageLines).then((found) => {
      const got = toPage(start, generation, found);
      if (got?.final) {
        if (entry.reading.get(start)?.page === read) entry.reading.delete(start);
        entry.cache.set(start, got);
        for (const key of entry.cache.keys()) {
          if (entry.cache.size <= cachedPages) break;
          entry.cache.delete(key);
        }
      }
      return got;
    });
    read.catch(() => {
      if (entry.reading.get(start)?.page === read) entry.reading.delete(start);
    });
    entry.reading.set(start, { generation, page: read });
    return read;
  };

  const acquire = (batchId: string): Entry => {
    let entry = entries.get(batchId);
    if (!entry) {
      const created: Entry = {
        batchId,
        refs: 0,
        generation: 0,
        cache: new Map(),
        reading: new Map(),
        waiters: new Set(),
        subscribed: Promise.resolve(async () => {}),
        lastWakeAt: 0,
        wakeTimer: null,
      };
      // Any event of the batch may mean new results (vbs_gateway_events_received_total counts batchProgress's).
      created.subscribed = bus.subscribe(TOPICS.batch(batchId), () => nudge(created));
      entries.set(batchId, (entry = created));
    }
    entry.refs += 1;
    return entry;
  };

  const release = (entry: Entry) => {
    entry.refs -= 1;
    if (entry.refs > 0) return;
    if (entry.wakeTimer) clearTimeout(entry.wakeTimer);
    if (entries.get(entry.batchId) === entry) entries.delete(entry.batchId);
    void entry.subscribed.then((stop) => stop()).catch(() => {});
  };

  const poll = setInterval(() => {
    for (const entry of entries.values()) if (entry.waiters.size > 0) wake(entry);
  }, pollMs);
  poll.unref?.();

  const startOf = (line: number) => Math.floor(line / pageLines) * pageLines;

  return {
    get batches() {
      return entries.size;
    },
    async watch(batchId, owner, fromLine) {
      if (!Number.isInteger(fromLine) || fromLine < 0)
        throw new AppError('BAD_REQUEST', `fromLine must be 0 or a positive line number, not ${fromLine}; lines are numbered from 1.`, {
          param: 'fromLine',
        });
      const entry = acquire(batchId);
      let current: Page | undefined;
      try {
        await entry.subscribed;
        current = await page(entry, startOf(fromLine));
        if (!current || current.owner !== owner) throw notFound(batchId);
      } catch (err) {
        release(entry);
        throw err;
      }
      metrics?.subscriptions.inc({ subscription: 'batchResults' });

      let cursor = fromLine;
      let at: Page | null = current;
      let index = 0;
      let closed = false;
      let wakeUp: (() => void) | null = null;

      const close = () => {
        if (closed) return;
        closed = true;
        at = null;
        if (wakeUp) {
          entry.waiters.delete(wakeUp);
          const resolve = wakeUp;
          wakeUp = null;
          resolve();
        }
        metrics?.subscriptions.dec({ subscription: 'batchResults' });
        release(entry);
      };

      /** Waits for a wake-up after the generation `seen` (at once if there was one already). */
      const waitAfter = (seen: number) =>
        entry.generation !== seen
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              wakeUp = () => {
                wakeUp = null;
                resolve();
              };
              entry.waiters.add(wakeUp);
            });

      const enter = (next: Page) => {
        at = next;
        index = 0;
        while (index < next.lines.length && next.lines[index]!.line < cursor) index++;
      };
      enter(current);

      const done = (): IteratorResult<ResultLine> => ({ done: true, value: undefined });

      const step = async (): Promise<IteratorResult<ResultLine>> => {
        while (!closed && !shut) {
          if (!at) {
            const got = await page(entry, startOf(cursor));
            if (closed) break;
            if (!got) {
              close();
              throw notFound(batchId);
            }
            enter(got);
            continue;
          }
          const here: Page = at;
          const item = here.lines[index];
          if (item) {
            if (item.result) {
              index++;
              cursor = item.line + 1;
              metrics?.eventsDelivered.inc({ subscription: 'batchResults' });
              return { done: false, value: item.result };
            }
            if (here.ended) {
              // The batch ended without a result for this line: no file will hold it.
              index++;
              cursor = item.line + 1;
              continue;
            }
            await waitAfter(here.generation);
            at = null;
            continue;
          }
          if (here.next !== null) {
            cursor = Math.max(cursor, here.next);
            at = null;
            continue;
          }
          if (here.ended) break;
          await waitAfter(here.generation);
          at = null;
        }
        close();
        return done();
      };

      const iterator: AsyncIterableIterator<ResultLine> = {
        next: () =>
          step().catch((err: unknown) => {
            close();
            if (err instanceof AppError) throw err;
            logger.warn('batch results: could not read results', { batch_id: batchId, err });
            throw new AppError('UNAVAILABLE', `Could not read the results of ${batchId}; subscribe again with fromLine ${cursor}.`, {
              cause: err,
            });
          }),
        return: () => {
          close();
          return Promise.resolve(done());
        },
        throw: (error: unknown) => {
          close();
          return Promise.reject(error);
        },
        [Symbol.asyncIterator]: () => iterator,
      };
      return iterator;
    },
    async close() {
      shut = true;
      clearInterval(poll);
      const all = [...entries.values()];
      entries.clear();
      for (const entry of all) {
        if (entry.wakeTimer) clearTimeout(entry.wakeTimer);
        entry.cache.clear();
        // Waiting subscribers end.
        wake(entry);
      }
      await Promise.allSettled(all.map((e) => e.subscribed.then((stop) => stop())));
    },
  };
}
