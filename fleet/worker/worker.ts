import type { EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import type { WorkerMetrics } from '../../core/metrics/index.ts';
import { leaseRequests, releaseRequests, type Database } from '../../schema/index.ts';
import { sleep, type BackoffOptions } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Capacity } from './capacity.ts';
import { createJobBuffer } from './job-buffer.ts';
import { createLeaseHeartbeat } from './lease-heartbeat.ts';
import { createLoadReader, type ReadLoad } from './engine-metrics.ts';
import { createKeyGate } from './key-gate.ts';
import { observedLoad } from './observed-load.ts';
import { createLoadFollower } from './load-follower.ts';
import { createResultWriter } from './result-writer.ts';
import { runRequest, type Job } from './run-request.ts';
import { publishWrite, settleAndPublish } from './settle.ts';
import { afterReturnedLeases } from './sweeper.ts';
import { engineErrorKind } from './error-kind.ts';
import { createEngineErrorLog } from './engine-error-log.ts';

/** How long a model the engine said it does not serve is left alone (the engine may be restarting with it). */
const MODEL_MISSING_PAUSE_MS = 30_000;
/** How long an unreachable engine keeps the work waiting for it, unless the timings say otherwise. */
const ENGINE_DOWN_MS = 300_000;

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
  completed: number;
  failed: number;
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
  /** Stops leasing, lets in-flight requests finish for up to `timeoutMs`, aborts and releases the rest, writes every result. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Creates the worker: a lease loop that keeps `capacity.target` requests in flight plus a
 * prefetched buffer, one task per request streaming it through the engine, a batched
 * result writer, the lease heartbeat, and the capacity follower. Every loop catches its
 * own failures and tries again: nothing is thrown out of the worker.
 */
export function createWorker(options: WorkerOptions): Worker {
  const { id, database, logger, client, capacity, timings, metrics } = options;
  const buffer = createJobBuffer(database);
  /** Requests in flight: whether a call of each is at the engine now, since when, and whether the engine has started answering it (its first event). */
  const inFlight = new Map<number, { controller: AbortController; job: Job; startedAt: number; answering: boolean; atEngine: boolean }>();
  let completed = 0;
  let failed = 0;
  let paused = false;
  let stopped = false;
  let queueEmpty = false;
  let busyAt = Date.now();
  let rounds = 0;
  let wake: (() => void) | null = null;
  let leasing: Promise<void> = Promise.resolve();
  const timers: ReturnType<typeof setInterval>[] = [];

  const settleDeps = { database, bus: options.bus, logger };
  const writer = createResultWriter({
    database,
    owner: id,
    logger,
    flushMs: timings.flushMs,
    maxBatch: options.flushMax,
    onWritten(counters, lost) {
      if (lost) metrics?.leasesLost.inc({}, lost);
      void publishWrite(settleDeps, counters);
    },
  });

  const nudge = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const pauseFor = (ms: number) =>
    stopped
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            if (wake === done) wake = null;
            resolve();
          }, ms);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          wake = done;
        });

  /** Keep about half a second of completions leased ahead, so a freed slot never waits for Postgres. */
  const prefetch = () => Math.min(options.leaseMax * 2, Math.max(16, Math.ceil(load.completionRate * 0.5)));

  const errorLog = createEngineErrorLog({ logger });
  const runCtx = {
    client,
    gate: options.gate,
    maxRetries: options.maxRetries,
    backoff: options.backoff,
    onEngineError(outcome: Parameters<NonNullable<Parameters<typeof runRequest>[0]['onEngineError']>>[0]) {
      const kind = engineErrorKind(outcome);
      metrics?.recordEngineError(kind);
      errorLog.record(kind, outcome.kind === 'rejected' ? `the engine answered ${outcome.statusCode}: ${outcome.body}` : outcome.message);
    },
    onCall(job: Job, atEngine: boolean) {
      const entry = inFlight.get(job.id);
      if (!entry) return;
      entry.atEngine = atEngine;
      entry.answering = false;
      if (atEngine) entry.startedAt = performance.now();
    },
    onFirstByte(job: Job) {
      const entry = inFlight.get(job.id);
      if (entry) entry.answering = true;
    },
  };

  const launch = (job: Job) => {
    // Leased again by this worker after its lease was reaped (it was cut off from Postgres): the
    // stream still running answers it, under the new lease. A second one would run it twice, and
    // the first to end would untrack the other, which no cancel or drain could then abort.
    if (inFlight.has(job.id)) return;
    const controller = new AbortController();
    const started = performance.now();
    inFlight.set(job.id, { controller, job, startedAt: started, answering: false, atEngine: false });
    runRequest(runCtx, job, controller.signal)
      .then((result) => {
        if (result === 'model_missing') return modelMissing(job);
        if (result === 'engine_unauthorized') return unauthorized(job);
        if (!result) return;
        if (result.status === 'succeeded') completed++;
        else failed++;
        writer.add(result);
        metrics?.recordResult({ model: job.model, ok: result.status === 'succeeded', promptTokens: result.promptTokens ?? 0, completionTokens: result.completionTokens ?? 0 });
        metrics?.requestSeconds.observe({ model: job.model }, (performance.now() - started) / 1000);
      })
      .catch((err: unknown) => logger.error('a request task failed unexpectedly; its lease will expire and be retried', { err, requestId: job.id }))
      .finally(() => {
        inFlight.delete(job.id);
        busyAt = Date.now();
        pump();
        if (!queueEmpty) nudge();
      });
  };

  /** Models the engine said it does not serve, and until when they are not leased. */
  const missing = new Map<string, number>();
  const modelMissing = async (job: Job) => {
    if (!missing.has(job.model)) {
      logger.warn('the engine does not serve this model; its requests go back to the queue and it is not leased for 30 s', { model: job.model });
    }
    missing.set(job.model, Date.now() + MODEL_MISSING_PAUSE_MS);
    await releaseRequests(database.db, { owner: id, ids: [job.id], refundAttempt: true, maxAttempts: options.maxAttempts }).catch((err: unknown) =>
      logger.warn('releasing a request failed; its lease will expire and be reaped', { err, requestId: job.id }),
    );
  };
  const keyAccepted = createKeyGate(client, logger);
  /** The engine refused our API key: leasing stops and what is held goes back, attempts refunded. */
  const unauthorized = async (job: Job) => {
    keyAccepted.reportDown();
    const held = [job.id, ...buffer.clear()];
    await release(held, true);
  };
  const leasable = () => options.models().filter((model) => (missing.get(model) ?? 0) < Date.now());

  const pump = () => {
    while (!stopped && inFlight.size < capacity.target && buffer.size > 0 && options.gate.up && keyAccepted.up) {
      launch(buffer.take() as Job);
    }
    metrics?.inFlight.set({}, inFlight.size);
  };

  const load = createLoadFollower({
    readLoad: options.readLoad ?? createLoadReader({ baseUrl: client.baseUrl }),
    observedLoad: () => observedLoad(inFlight.values()),
    capacity,
    inFlight: () => inFlight.size,
    finished: () => completed + failed,
    onReading() {
      metrics?.capacity.set({}, capacity.target);
      pump();
    },
    pollMs: timings.loadPollMs,
  });

  const leaseRound = async (): Promise<'more' | 'empty' | 'full'> => {
    // Results the database is slow to take hold leasing back beyond two pages, so they cannot pile up in memory.
    const unwritten = Math.max(0, writer.pending - options.flushMax * 2);
    const want = capacity.target + prefetch() - inFlight.size - buffer.size - unwritten;
    if (want < Math.max(1, Math.floor(prefetch() / 2))) return 'full';
    let got = 0;
    let drained = true;
    // Start each round at the next model, so one model's backlog cannot starve another's.
    const models = leasable();
    const first = rounds++ % Math.max(1, models.length);
    for (const model of [...models.slice(first), ...models.slice(0, first)]) {
      const limit = Math.min(want - got, options.leaseMax);
      if (limit <= 0 || stopped) break;
      const started = performance.now();
      const leased = await leaseRequests(database.db, { owner: id, model, limit, leaseMs: timings.leaseMs });
      metrics?.leaseSeconds.observe({}, (performance.now() - started) / 1000);
      if (leased.length) metrics?.leased.inc({ model }, leased.length);
      if (leased.length === limit) drained = false;
      got += leased.length;
      await buffer.add(leased);
      pump();
    }
    if (got > 0) busyAt = Date.now();
    return drained ? 'empty' : 'more';
  };

  /** Gives leases back, the attempt refunded or not; resolves to where they went (none when it failed: they expire and are reaped). */
  const release = (ids: number[], refundAttempt: boolean) =>
    ids.length
      ? releaseRequests(database.db, { owner: id, ids, refundAttempt, maxAttempts: options.maxAttempts }).catch((err: unknown) => {
          logger.warn('releasing leases failed; they will expire and be reaped', { err, requests: ids.length });
          return [];
        })
      : Promise.resolve([]);

  /**
   * An engine that stays unreachable must not keep its worker's leases: they are heartbeated,
   * so without this they would wait for it for as long as it is gone, and their batches with them.
   */
  const handBack = async () => {
    const unstarted = buffer.clear();
    const waiting = drop(new Set(inFlight.keys()));
    if (unstarted.length + waiting.length === 0) return;
    logger.warn('the engine has been unreachable too long; the requests waiting for it go back to the queue', { downMs: options.gate.downForMs(), requests: unstarted.length + waiting.length });
    // Never sent, the attempt is refunded; sent to the engine that went down, it counts (that request may be what brings it down).
    const returned = [...(await release(unstarted, true)), ...(await release(waiting, false))];
    await afterReturnedLeases(settleDeps, returned).catch((err: unknown) => logger.warn('waking workers for the returned requests failed', { err }));
  };

  const leaseLoop = async () => {
    let failures = 0;
    while (!stopped) {
      if (!options.gate.up && options.gate.downForMs() >= (timings.engineDownMs ?? ENGINE_DOWN_MS)) await handBack();
      if (paused || !options.gate.up || !keyAccepted.up) {
        await pauseFor(timings.pollMs);
        continue;
      }
      try {
        const round = await leaseRound();
        failures = 0;
        queueEmpty = round === 'empty';
        if (round !== 'more') await pauseFor(round === 'empty' ? timings.pollMs : timings.pollMs / 4);
      } catch (err) {
        if (failures++ % 20 === 0) logger.warn('leasing failed; trying again', { err });
        await pauseFor(Math.min(timings.pollMs * 2 ** Math.min(failures, 4), 10_000));
      }
    }
  };

  /** Aborts the given requests (in flight or buffered); returns the ids it held. */
  const drop = (ids: ReadonlySet<number>) => {
    const dropped = buffer.remove(ids);
    for (const requestId of ids) {
      const entry = inFlight.get(requestId);
      if (!entry) continue;
      entry.controller.abort();
      inFlight.delete(requestId);
      dropped.push(requestId);
    }
    return dropped;
  };

  const heartbeat = createLeaseHeartbeat({
    database,
    owner: id,
    leaseMs: timings.leaseMs,
    logger,
    held: () => new Set([...inFlight.keys(), ...buffer.ids()]),
    writing: () => writer.ids(),
    drop,
    settle: (batchIds) => settleAndPublish(settleDeps, batchIds),
    onFailure: () => metrics?.heartbeatFailures.inc(),
  });

  return {
    start() {
      leasing = leaseLoop();
      timers.push(setInterval(() => void heartbeat.beat(), timings.heartbeatMs));
      load.start();
    },
    nudge(model) {
      if (model === undefined || options.models().includes(model)) {
        queueEmpty = false;
        nudge();
      }
    },
    heartbeatNow: () => void heartbeat.beat(),
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      queueEmpty = false;
      busyAt = Date.now();
      nudge();
    },
    idleForMs() {
      if (inFlight.size > 0 || buffer.size > 0 || writer.pending > 0 || !queueEmpty) return 0;
      return Date.now() - busyAt;
    },
    stats: () => ({ inFlight: inFlight.size, buffered: buffer.size, target: capacity.target, completed, failed }),
    async drain(timeoutMs) {
      paused = true;
      stopped = true;
      nudge();
      const deadline = Date.now() + timeoutMs;
      // A lease round under way adds what it leased to the buffer when it ends: wait for it, so that is given back too.
      const waited = new AbortController();
      await Promise.race([leasing, sleep(timeoutMs, waited.signal)]);
      waited.abort();
      const unstarted = buffer.clear();
      await release(unstarted, true);
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const interrupted = drop(new Set(inFlight.keys()));
      await writer.flush();
      await release(interrupted, true);
      for (const timer of timers) clearInterval(timer);
      load.stop();
      keyAccepted.close();
      errorLog.close();
      writer.close();
      logger.info('worker drained', { finishedInFlight: interrupted.length === 0, released: unstarted.length + interrupted.length });
    },
  };
}
