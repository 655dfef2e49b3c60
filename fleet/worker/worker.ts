import type { EventBus } from '../../core/events/index.ts';
import { createPeriodic } from '../../core/loop.ts';
import type { Logger } from '../../core/logger.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { Database } from '../../schema/index.ts';
import { sleep, type BackoffOptions } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Capacity } from './capacity.ts';
import { createLoadReader, type ReadLoad } from './engine-metrics.ts';
import { createGiveBack } from './give-back.ts';
import { createHoldings } from './holdings.ts';
import { createJobBuffer } from './job-buffer.ts';
import { createKeyGate } from './key-gate.ts';
import { createLeaseHeartbeat } from './lease-heartbeat.ts';
import { createLeaseLoop } from './lease-loop.ts';
import { createLoadFollower } from './load-follower.ts';
import { observedLoad } from './observed-load.ts';
import { createRequestTasks } from './request-tasks.ts';
import { createResultWriter } from './result-writer.ts';
import { publishWrite, settleAndPublish } from './settle.ts';

/** Timings of the worker loops, in milliseconds. */
export interface WorkerTimings {
  /** Lease time-to-live; heartbeats extend it. A dead worker's leases return after this. */
  leaseMs: number;
  heartbeatMs: number;
  /** The polling backstop when no NOTIFY comes. */
  pollMs: number;
  flushMs: number;
  /** How often the engine's /metrics are read to follow its capacity. */
  loadPollMs: number;
  /**
   * After the engine has been unreachable this long, the requests waiting for it go back to
   * the queue, for workers whose engines answer (default 5 minutes).
   */
  engineDownMs?: number;
}

/** Options for {@link createWorker}. */
export interface WorkerOptions {
  id: string;
  database: Database;
  bus: EventBus;
  logger: Logger;
  client: EngineClient;
  gate: EngineGate;
  capacity: Capacity;
  /** Reads the engine's /metrics for the capacity follower; the engine's own, without a key, by default. */
  readLoad?: ReadLoad;
  /** The models to lease for now: the engine's, or the one its owned engine has loaded. */
  models: () => readonly string[];
  timings: WorkerTimings;
  /** Results per write statement. */
  flushMax: number;
  /** Requests per lease statement. */
  leaseMax: number;
  maxRetries: number;
  backoff: BackoffOptions;
  maxAttempts: number;
  metrics?: WorkerMetrics | undefined;
}

/** What a worker is doing, for its heartbeat row and logs. */
export interface WorkerStats {
  inFlight: number;
  buffered: number;
  target: number;
  /** Results answered and waiting to be written. */
  unwritten: number;
  /** Results this worker wrote, succeeded and failed (a result refused because its lease was lost is not counted). */
  completed: number;
  failed: number;
  /** Requests finished per second, smoothed: the fleet's observed throughput is the sum of its workers'. */
  completionRate: number;
  /** The engine's KV-cache use (1 = full) at the last reading of its /metrics; null when they do not show it. */
  kvCacheUsage: number | null;
}

/** The worker loop of one engine. */
export interface Worker {
  start(): void;
  /** Wakes the lease loop (a NOTIFY for `model`, or anything else that may mean work). */
  nudge(model?: string): void;
  /** Runs the lease heartbeat now (a batch was cancelled). */
  heartbeatNow(): void;
  /** Stops leasing (what is leased still runs); `resume` starts again. */
  pause(): void;
  resume(): void;
  /** Milliseconds the worker has had nothing to do and found nothing queued; 0 while busy. */
  idleForMs(): number;
  stats(): WorkerStats;
  /** Stops leasing, lets in-flight requests finish for up to `timeoutMs`, aborts the rest, writes every result and releases the ranges. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Creates the worker of one engine, from its parts: what it holds (holdings.ts), the lease loop
 * that keeps `capacity.target` requests in flight plus a prefetched buffer (lease-loop.ts), one
 * task per request streaming it through the engine (request-tasks.ts), a batched result writer
 * (result-writer.ts), the lease heartbeat (lease-heartbeat.ts), the giving back of ranges
 * (give-back.ts), and the capacity follower (load-follower.ts). Work is leased, extended and
 * given back by range: every release drops the jobs it holds of the ranges concerned. Every
 * loop catches its own failures and tries again: nothing is thrown out of the worker.
 */
export function createWorker(options: WorkerOptions): Worker {
  const { id, database, logger, client, capacity, timings, metrics } = options;
  const settleDeps = { database, bus: options.bus, logger };
  let completed = 0;
  let failed = 0;
  const writer = createResultWriter({
    database,
    owner: id,
    logger,
    flushMs: timings.flushMs,
    maxBatch: options.flushMax,
    onWritten(counters, lost) {
      // Counted once written: a line answered again after its lease expired is refused the second time.
      for (const c of counters) {
        completed += c.written - c.writtenFailed;
        failed += c.writtenFailed;
      }
      if (lost) metrics?.leasesLost.inc({}, lost);
      void publishWrite(settleDeps, counters);
      loop.wakeIfFreed();
    },
    onWriteSeconds: (seconds) => metrics?.writeSeconds.observe({}, seconds),
  });
  const holdings = createHoldings({ buffer: createJobBuffer(database), writer, metrics });
  const { inFlight, buffer } = holdings;
  const keyAccepted = createKeyGate(client, logger);

  /**
   * The heartbeat and the releases run one at a time: a release waits for the ranges the beat
   * holds locked, and a beat that ran beside a release would find the ranges being given back
   * gone and report them lost; one after the other, each sees what the other did.
   */
  let statements: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(run: () => Promise<T>): Promise<T> => {
    const next = statements.then(run);
    statements = next.catch(() => {});
    return next;
  };

  const giveBack = createGiveBack({
    ...settleDeps,
    owner: id,
    maxAttempts: options.maxAttempts,
    leaseMs: timings.leaseMs,
    holdings,
    writer,
    gate: options.gate,
    keyAccepted,
    inTurn,
  });

  const tasks = createRequestTasks({
    holdings,
    writer,
    client,
    gate: options.gate,
    keyAccepted,
    capacity,
    maxRetries: options.maxRetries,
    backoff: options.backoff,
    logger,
    metrics,
    starting: () => !loop.stopped,
    onModelMissing: giveBack.modelMissing,
    onUnauthorized: giveBack.unauthorized,
    onEnd() {
      loop.busy();
      loop.wakeIfFreed();
    },
  });

  const load = createLoadFollower({
    readLoad: options.readLoad ?? createLoadReader({ baseUrl: client.baseUrl }),
    observedLoad: () => observedLoad(inFlight.values()),
    capacity,
    inFlight: () => inFlight.size,
    finished: () => completed + failed,
    onReading() {
      metrics?.capacity.set({}, capacity.target);
      tasks.pump();
    },
    pollMs: timings.loadPollMs,
  });

  const loop = createLeaseLoop({
    database,
    owner: id,
    logger,
    metrics,
    holdings,
    writer,
    capacity,
    gate: options.gate,
    keyAccepted,
    models: options.models,
    leasable: () => giveBack.leasable(options.models()),
    completionRate: () => load.completionRate,
    leaseMax: options.leaseMax,
    flushMax: options.flushMax,
    leaseMs: timings.leaseMs,
    pollMs: timings.pollMs,
    engineDownMs: timings.engineDownMs,
    pump: tasks.pump,
    handBack: giveBack.handBack,
  });

  const leaseHeartbeat = createLeaseHeartbeat({
    database,
    owner: id,
    leaseMs: timings.leaseMs,
    logger,
    held: holdings.ranges,
    writing: () => writer.ranges(),
    flush: () => writer.flush(Math.min(2000, timings.leaseMs / 4)),
    drop: holdings.drop,
    settle: (batchIds) => settleAndPublish(settleDeps, batchIds),
    onFailure: () => metrics?.heartbeatFailures.inc(),
  });
  const heartbeat = createPeriodic(
    () =>
      inTurn(async () => {
        await leaseHeartbeat.beat();
        holdings.forgetLeases();
      }),
    timings.heartbeatMs,
  );

  return {
    start() {
      loop.start();
      heartbeat.start();
      load.start();
    },
    nudge: loop.nudge,
    // A beat under way may have read the batches before the cancel that calls this: one more after it.
    heartbeatNow: () => void heartbeat.run().then(() => heartbeat.run()),
    pause: loop.pause,
    resume: loop.resume,
    idleForMs: loop.idleForMs,
    stats: () => ({
      inFlight: inFlight.size,
      buffered: buffer.size,
      target: capacity.target,
      unwritten: writer.pending,
      completed,
      failed,
      completionRate: load.completionRate,
      kvCacheUsage: load.kvCacheUsage,
    }),
    async drain(timeoutMs) {
      const leasing = loop.stop();
      const deadline = Date.now() + timeoutMs;
      // A lease round under way adds what it leased to the buffer when it ends: wait for it, so that is given back too.
      const waited = new AbortController();
      await Promise.race([leasing, sleep(timeoutMs, waited.signal)]);
      waited.abort();
      // Ranges nothing has started on go back at once, for other workers to start while the rest finishes here.
      const started = new Set([...[...inFlight.values()].map((e) => e.job.rangeId), ...writer.ranges()]);
      const unstarted = [...new Set(buffer.jobs().map((j) => j.rangeId))].filter((rangeId) => !started.has(rangeId));
      holdings.drop(holdings.underLease(unstarted));
      await giveBack.release(unstarted, true);
      while (inFlight.size > 0 && Date.now() < deadline) await sleep(100);
      const interrupted = holdings.drop(holdings.ranges());
      await writer.flush();
      // Every range still leased to this worker goes back, the attempt refunded: finished lines keep their results.
      const returned = await giveBack.release(undefined, true);
      heartbeat.stop();
      load.stop();
      keyAccepted.close();
      tasks.close();
      writer.close();
      await giveBack.publish(returned);
      logger.info('worker drained', { finishedInFlight: interrupted === 0, released: returned.reduce((n, r) => n + r.n, 0) });
    },
  };
}
