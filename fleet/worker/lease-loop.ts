import type { Logger } from '../../core/logger.ts';
import { createWakeable } from '../../core/loop.ts';
import type { WorkerMetrics } from './metrics.ts';
import { leaseRequests, type Database } from '../../schema/index.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Capacity } from './capacity.ts';
import type { Holdings } from './holdings.ts';
import type { ResultWriter } from './result-writer.ts';

/** How long an unreachable engine keeps the work waiting for it, unless the options say otherwise. */
const ENGINE_DOWN_MS = 300_000;

/** Options for {@link createLeaseLoop}. */
export interface LeaseLoopOptions {
  database: Database;
  owner: string;
  logger: Logger;
  metrics?: WorkerMetrics | undefined;
  holdings: Holdings;
  writer: Pick<ResultWriter, 'pending'>;
  capacity: Capacity;
  gate: EngineGate;
  /** Closed while the engine refuses the worker's API key. */
  keyAccepted: EngineGate;
  /** The models the worker serves now. */
  models: () => readonly string[];
  /** The models to lease for now (those the engine did not say it lacks). */
  leasable: () => string[];
  /** Requests finished per second, smoothed: the prefetch is sized from it. */
  completionRate: () => number;
  /** Requests per lease statement. */
  leaseMax: number;
  /** Results per write statement. */
  flushMax: number;
  leaseMs: number;
  /** The polling backstop when no NOTIFY comes. */
  pollMs: number;
  /** After the engine has been unreachable this long, `handBack` is called (default 5 minutes). */
  engineDownMs?: number | undefined;
  /** Starts buffered jobs. */
  pump: () => void;
  /** Gives back everything held: the engine has been unreachable too long. */
  handBack: () => Promise<void>;
}

/** The loop that leases requests for a worker. */
export interface LeaseLoop {
  start(): void;
  /** Wakes the loop (a NOTIFY for `model`, or anything else that may mean work). */
  nudge(model?: string): void;
  /** Wakes the loop when more may be leasable now: the queue was not found empty, or the share that held a lease short has freed up. */
  wakeIfFreed(): void;
  /** Stops leasing (what is leased still runs); `resume` starts again. */
  pause(): void;
  resume(): void;
  /** Notes that the worker was busy now (a request ended). */
  busy(): void;
  /** Milliseconds the worker has had nothing to do and found nothing queued; 0 while busy. */
  idleForMs(): number;
  /** True once `stop` was called. */
  readonly stopped: boolean;
  /** Stops leasing for good; resolves when the lease round under way has ended and its requests are buffered. */
  stop(): Promise<void>;
}

/**
 * Creates the {@link LeaseLoop}: it keeps `capacity.target` requests in flight plus a
 * prefetched buffer, leasing in rounds, one lease statement per model served, and sleeps
 * between rounds until a NOTIFY, a finished request, a written page or the polling backstop
 * wakes it. It leases nothing while paused, while the engine is unreachable, or while the
 * engine refuses the worker's key.
 */
export function createLeaseLoop(options: LeaseLoopOptions): LeaseLoop {
  const { database, owner, logger, metrics, holdings, writer, capacity, gate, keyAccepted, pollMs } = options;
  const { inFlight } = holdings;
  let paused = false;
  let stopped = false;
  let queueEmpty = false;
  /**
   * After a round that leased less than it wanted, a finished request or a written page wakes the
   * lease loop once what the worker holds has fallen to this (half of what it held then), or never
   * (-1): a short lease may mean the worker's share of a batch was reached, which frees up as its
   * lines are answered; halving keeps a queue that is really empty to a few statements per worker.
   */
  let wakeAtHeld = -1;
  let busyAt = Date.now();
  let rounds = 0;
  /** The loop's sleep between rounds, which a NOTIFY, a finished request or a resume ends early. */
  const idle = createWakeable();
  let leasing: Promise<void> = Promise.resolve();

  /** Keep about half a second of completions leased ahead, so a freed slot never waits for Postgres. */
  const prefetch = () => Math.min(options.leaseMax * 2, Math.max(16, Math.ceil(options.completionRate() * 0.5)));

  const leaseRound = async (): Promise<'more' | 'empty' | 'full'> => {
    // Results the database is slow to take hold leasing back beyond two pages, so they cannot pile up in memory.
    const unwritten = Math.max(0, writer.pending - options.flushMax * 2);
    const want = capacity.target + prefetch() - inFlight.size - holdings.buffer.size - unwritten;
    if (want < Math.max(1, Math.floor(prefetch() / 2))) return 'full';
    let got = 0;
    let drained = true;
    // Start each round at the next model, so one model's backlog cannot starve another's.
    const models = options.leasable();
    const first = rounds++ % Math.max(1, models.length);
    for (const model of [...models.slice(first), ...models.slice(0, first)]) {
      const limit = Math.min(want - got, options.leaseMax);
      if (limit <= 0 || stopped) break;
      const started = performance.now();
      const leased = await leaseRequests(database.db, { owner, model, limit, leaseMs: options.leaseMs });
      metrics?.leaseSeconds.observe({}, (performance.now() - started) / 1000);
      if (leased.length) metrics?.leased.inc({ model }, leased.length);
      // A full lease may mean more is queued; a short one does not mean the queue is empty (a
      // locked range passed over, this worker's share of a batch reached): see wakeAtHeld.
      if (leased.length >= limit) drained = false;
      got += leased.length;
      await holdings.add(leased);
      options.pump();
    }
    if (got > 0) busyAt = Date.now();
    return drained ? 'empty' : 'more';
  };

  const leaseLoop = async () => {
    let failures = 0;
    while (!stopped) {
      if (!gate.up && gate.downForMs() >= (options.engineDownMs ?? ENGINE_DOWN_MS)) await options.handBack();
      if (paused || !gate.up || !keyAccepted.up) {
        await idle.sleep(pollMs);
        continue;
      }
      try {
        const round = await leaseRound();
        failures = 0;
        queueEmpty = round === 'empty';
        const held = holdings.count();
        wakeAtHeld = round === 'empty' && held > 0 ? Math.floor(held / 2) : -1;
        if (round !== 'more') await idle.sleep(round === 'empty' ? pollMs : pollMs / 4);
      } catch (err) {
        if (failures++ % 20 === 0) logger.warn('leasing failed; trying again', { err });
        await idle.sleep(Math.min(pollMs * 2 ** Math.min(failures, 4), 10_000));
      }
    }
  };

  return {
    start() {
      leasing = leaseLoop();
    },
    nudge(model) {
      if (model === undefined || options.models().includes(model)) {
        queueEmpty = false;
        idle.wake();
      }
    },
    wakeIfFreed() {
      if (!queueEmpty || holdings.count() <= wakeAtHeld) idle.wake();
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      queueEmpty = false;
      busyAt = Date.now();
      idle.wake();
    },
    busy() {
      busyAt = Date.now();
    },
    idleForMs() {
      if (holdings.count() > 0 || !queueEmpty) return 0;
      return Date.now() - busyAt;
    },
    get stopped() {
      return stopped;
    },
    stop() {
      paused = true;
      stopped = true;
      idle.close();
      return leasing;
    },
  };
}
