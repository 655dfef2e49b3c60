import type { Logger } from '../../core/logger.ts';
import { sql } from 'drizzle-orm';
import { completeRequests, errorCodes, type Database, type RequestResult, type WrittenBatchCounters } from '../../schema/index.ts';

/** Batches results and writes them with one guarded statement per flush. */
export interface ResultWriter {
  add(result: RequestResult): void;
  /** Writes everything pending now (retrying until the database answers or `timeoutMs` passes). */
  flush(timeoutMs?: number): Promise<void>;
  readonly pending: number;
  /** The ranges of results not yet written (being written included): their leases must be kept. */
  ranges(): Set<number>;
  close(): void;
}

/** Options for {@link createResultWriter}. */
export interface ResultWriterOptions {
  database: Database;
  owner: string;
  logger: Logger;
  /** A flush at least this often while results wait. */
  flushMs: number;
  /** At most this many results per statement; reaching it flushes at once. */
  maxBatch: number;
  /** Called after each write with the counters it returned and how many results were not written (lease lost). */
  onWritten(counters: WrittenBatchCounters[], lost: number, results: readonly RequestResult[]): void;
  /** Called with the seconds each successful write took (the worker's write-latency histogram). */
  onWriteSeconds?: (seconds: number) => void;
}

/**
 * The result writer. One flush runs at a time; a failed write keeps its results and tries
 * again on the next tick (the leases are still held and heartbeated meanwhile), so a
 * database hiccup delays results but never drops them, and one result Postgres refuses
 * cannot block the others forever.
 */
export function createResultWriter({
  database,
  owner,
  logger,
  flushMs,
  maxBatch,
  onWritten,
  onWriteSeconds,
}: ResultWriterOptions): ResultWriter {
  let pending: RequestResult[] = [];
  let writing: readonly RequestResult[] = [];
  let flushing: Promise<boolean> | null = null;
  let failures = 0;
  /** Results still to write one at a time, after a page kept failing. */
  let isolating = 0;

  const databaseAnswers = () =>
    database.db.execute(sql`select 1`).then(
      () => true,
      () => false,
    );

  const flushOnce = async (): Promise<boolean> => {
    const take = pending.slice(0, isolating > 0 ? 1 : maxBatch);
    pending = pending.slice(take.length);
    writing = take;
    try {
      const started = performance.now();
      // By COPY on Postgres (completeRequests falls back to parameters for a page COPY refuses).
      const counters = await completeRequests(database.db, owner, take, database.copyTransaction);
      const ms = performance.now() - started;
      onWriteSeconds?.(ms / 1000);
      logger.debug('results written', { results: take.length, ms: Math.round(ms) });
      const written = counters.reduce((n, c) => n + c.written, 0);
      // Written: no longer pending when onWritten looks (the worker counts what it holds by it).
      writing = [];
      failures = 0;
      if (isolating > 0) isolating--;
      onWritten(counters, Math.max(0, take.length - written), take);
      return true;
    } catch (err) {
      failures++;
      if (failures % 20 === 1) logger.warn('writing results failed; they are kept and written again', { err, results: take.length });
      // A page that keeps failing while the database answers holds a result Postgres refuses:
      // write the page one result at a time, and store a refused result as a failure instead.
      // Only for a refusal of the data: a timeout, a lock or a lost connection passes, and a
      // good answer stored as a failure would be lost.
      if (failures >= 3 && refusesData(err) && (await databaseAnswers())) {
        const [only] = take;
        if (take.length > 1) isolating = take.length;
        else if (only) {
          logger.error('a result could not be stored; it is recorded as failed', { err, requestId: only.id });
          take[0] = unwritable(only, err);
          failures = 0;
        }
      }
      pending = take.concat(pending);
      return false;
    } finally {
      writing = [];
    }
  };

  const kick = () => {
    if (flushing || pending.length === 0) return;
    flushing = flushOnce().finally(() => {
      flushing = null;
      if (pending.length >= maxBatch) kick();
    });
  };

  const timer = setInterval(kick, flushMs);

  return {
    add(result) {
      pending.push(result);
      if (pending.length >= maxBatch) kick();
    },
    async flush(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while ((pending.length > 0 || flushing) && Date.now() < deadline) {
        if (flushing) await flushing;
        else if (!(await (flushing = flushOnce().finally(() => (flushing = null))))) await new Promise((r) => setTimeout(r, 200));
      }
    },
    get pending() {
      return pending.length + writing.length;
    },
    ranges() {
      const ranges = new Set<number>();
      for (const r of writing) ranges.add(r.rangeId);
      for (const r of pending) ranges.add(r.rangeId);
      return ranges;
    },
    close() {
      clearInterval(timer);
    },
  };
}

/**
 * True for errors that say Postgres refuses the values themselves (SQLSTATE classes 22 data
 * exception, 23 integrity constraint violation, 54 program limit exceeded), which no retry
 * mends. Drivers put the SQLSTATE in `code`; drizzle wraps their error as `cause`.
 */
function refusesData(err: unknown): boolean {
  const [code] = errorCodes(err);
  return code !== undefined && /^(22|23|54)/.test(code);
}

/** A result Postgres refused, as a failure the error file can carry. */
function unwritable(result: RequestResult, err: unknown): RequestResult {
  const reason = String((err as Error)?.message ?? err)
    .replace(/\u0000/g, '\uFFFD')
    .slice(0, 500);
  return {
    id: result.id,
    rangeId: result.rangeId,
    batchId: result.batchId,
    line: result.line,
    startedAtMs: result.startedAtMs,
    status: 'failed',
    statusCode: null,
    response: null,
    engineRequestId: null,
    error: { code: 'result_unwritable', message: `The engine answered, but the database refused to store the answer: ${reason}` },
    promptTokens: result.promptTokens,
    completionTokens: result.completionTokens,
  };
}
