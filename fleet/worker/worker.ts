import type { EventBus } from '../../core/events/index.ts';
import { createPeriodic, createWakeable } from '../../core/loop.ts';
import type { Logger } from '../../core/logger.ts';
import type { WorkerMetrics } from '../../core/metrics/index.ts';
import { leaseRequests, releaseRequests, type Database } from '../../schema/index.ts';
import { sleep, type BackoffOptions } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { EngineGate } from '../engine/gate.ts';
import type { Capacity } from './capacity.ts';
import { createJobBuffer } from './job-buffer.ts';
import { createLeaseHeartbeat, type HeldRanges } from './lease-heartbeat.ts';
import { createLoadReader, type ReadLoad } from './engine-metrics.ts';
import { createKeyGate } from './key-gate.ts';
import { observedLoad } from './observed-load.ts';
import { createLoadFollower } from './load-follower.ts';
import { createResultWriter } from './result-writer.ts';
import { runRequest, type Job } from './run-request.ts';
import { afterReturnedLeases, publishWrite, settleAndPublish } from './settle.ts';
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
  /** Results answered and waiting to be written. */
  unwritten: number;
  /** Results this worker wrote, succeeded and failed (a result refused because its lease was lost is not counted). */
  completed: number;
  failed: number;
  /** Requests finished per second, smoothed: the fleet's observed throughput is the sum of its workers'. */
  completionRate: number;
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
 * Creates the worker: a lease loop that keeps `capacity.target` requests in flight plus a
 * prefetched buffer, one task per request streaming it through the engine, a batched
 * result writer, the lease heartbeat, and the capacity follower. Work is leased, extended
 * and given back by range: every release drops the jobs it holds of the ranges concerned.
 * Every loop catches its own failures and tries again: nothing is thrown out of the worker.
 */
export function createWorker(options: WorkerOptions): Worker {
  const { id, database, logger, client, capacity, timings, metrics } = options;
  const buffer = createJobBuffer(database);
  /** Requests in flight: whether a call of each is at the engine now, since when, and whether the engine has started answering it (its first event). */
  const inFlight = new Map<number, InFlight>();
  /**
   * The lease each held range came with (numbered by lease statement): a heartbeat that finds a
   * range gone drops its jobs only if the range was not leased again meanwhile.
   */
  const leases = new Map<number, number>();
  let leaseNumber = 0;
  /** The lease whose requests are on their way into the buffer (their endpoints are being read), or 0. */
  let arriving = 0;
  let completed = 0;
  let failed = 0;
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
  /** The lease loop's sleep, which a NOTIFY, a finished request or a resume ends early. */
  const idle = createWakeable();
  let leasing: Promise<void> = Promise.resolve();
  /**
   * The heartbeat and the releases run one at a time: a release waits for the ranges the beat
   * holds locked, and a beat that ran beside a release would find the ranges being given back
   * gone and report them lost; one after the other, each sees what the other did.
   */
  let statements: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(run: () => Promise<T>): Promise<T> => {
    const next = statements.then(run);
    statements = next.catch(() => {});
    return next;
  };

  const settleDeps = { database, bus: options.bus, logger };
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
      wakeIfFreed();
    },
    onWriteSeconds: (seconds) => metrics?.writeSeconds.observe({}, seconds),
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
      if (atEngine) {
        entry.startedAt = performance.now();
        entry.sent = true;
      }
    },
    onFirstByte(job: Job) {
      const entry = inFlight.get(job.id);
      if (entry) entry.answering = true;
    },
  };

  const launch = (job: Job) => {
    // Leased again by this worker after its range was reaped (it was cut off from Postgres): the
    // stream still running answers it, under the new lease. A second one would run it twice.
    const running = inFlight.get(job.id);
    if (running) {
      running.job = job;
      return;
    }
    const controller = new AbortController();
    const started = performance.now();
    const entry: InFlight = { controller, job, startedAt: started, answering: false, atEngine: false, sent: false };
    inFlight.set(job.id, entry);
    runRequest(runCtx, job, controller.signal)
      .then((result) => {
        // Dropped meanwhile (its range was lost, stopped or given back): nothing of it is to be written.
        if (inFlight.get(job.id) !== entry) return;
        if (result === 'model_missing') return modelMissing(entry.job);
        if (result === 'engine_unauthorized') return unauthorized(entry.job);
        if (!result) return;
        // The range it is answered under: a new one if it was reaped and leased again while it ran.
        writer.add({ ...result, rangeId: entry.job.rangeId });
        metrics?.recordResult({
          model: job.model,
          ok: result.status === 'succeeded',
          promptTokens: result.promptTokens ?? 0,
          completionTokens: result.completionTokens ?? 0,
        });
        metrics?.requestSeconds.observe({ model: job.model }, (performance.now() - started) / 1000);
      })
      .catch((err: unknown) =>
        logger.error('a request task failed unexpectedly; its lease will expire and be retried', { err, requestId: job.id }),
      )
      .finally(() => {
        if (inFlight.get(job.id) === entry) inFlight.delete(job.id);
        busyAt = Date.now();
        pump();
        wakeIfFreed();
      });
  };

  /**
   * What the worker holds of the queue: in flight, buffered, and answered but not yet written.
   * The database counts a line as this worker's until its result is written, so a line answered
   * but unwritten still takes up the worker's share of its batch.
   */
  const holding = () => inFlight.size + buffer.size + writer.pending;
  /** Wakes the lease loop when more may be leasable now: the queue was not found empty, or the share that held a lease short has freed up. */
  const wakeIfFreed = () => {
    if (!queueEmpty || holding() <= wakeAtHeld) idle.wake();
  };

  /** The jobs held now: in flight and buffered. */
  const heldJobs = (): Job[] => [...[...inFlight.values()].map((e) => e.job), ...buffer.jobs()];

  /** The given ranges, each with the lease it is held under now. */
  const underLease = (rangeIds: Iterable<number>): HeldRanges =>
    new Map([...rangeIds].map((rangeId) => [rangeId, leases.get(rangeId) ?? 0]));

  /** The ranges of the jobs held now, each with the lease it came with. */
  const heldRanges = (): HeldRanges => underLease(heldJobs().map((job) => job.rangeId));

  /** Aborts the held jobs (in flight or buffered) of the given ranges, each if still held under the same lease; returns how many. */
  const drop = (ranges: HeldRanges) => {
    const current = new Set([...ranges].filter(([rangeId, lease]) => (leases.get(rangeId) ?? 0) === lease).map(([rangeId]) => rangeId));
    if (current.size === 0) return 0;
    let dropped = buffer.remove(current).length;
    for (const [requestId, entry] of inFlight) {
      if (!current.has(entry.job.rangeId)) continue;
      entry.controller.abort();
      inFlight.delete(requestId);
      dropped++;
    }
    for (const rangeId of current) leases.delete(rangeId);
    metrics?.inFlight.set({}, inFlight.size);
    return dropped;
  };

  /** Forgets the leases of ranges nothing is held of any more (finished, dropped): a worker lives for weeks. */
  const forgetLeases = () => {
    const live = new Set([...heldRanges().keys(), ...writer.ranges()]);
    for (const [rangeId, lease] of leases) if (lease !== arriving && !live.has(rangeId)) leases.delete(rangeId);
  };

  /** Releases ranges, the attempt refunded or not; resolves to where they went (none when it failed: they expire and are reaped). */
  const release = (rangeIds: readonly number[] | undefined, refundAttempt: boolean) =>
    rangeIds?.length === 0
      ? Promise.resolve([])
      : oneAtATime(() =>
          releaseRequests(database.db, {
            owner: id,
            ...(rangeIds ? { ids: rangeIds } : {}),
            refundAttempt,
            maxAttempts: options.maxAttempts,
          }),
        ).catch((err: unknown) => {
          logger.warn('releasing leases failed; they will expire and be reaped', { err, ranges: rangeIds?.length ?? 'all' });
          return [];
        });

  /**
   * Gives ranges back to the queue: drops every job held of them, writes the results already
   * computed (the next worker skips those lines), then releases them. A range is refunded
   * unless `refund` says otherwise for it.
   */
  const giveBack = async (rangeIds: Iterable<number>, refund: (rangeId: number) => boolean) => {
    const ranges = [...new Set(rangeIds)];
    if (ranges.length === 0) return [];
    drop(underLease(ranges));
    await writer.flush(timings.leaseMs / 2);
    const returned = [
      ...(await release(ranges.filter(refund), true)),
      ...(await release(
        ranges.filter((r) => !refund(r)),
        false,
      )),
    ];
    await afterReturnedLeases(settleDeps, returned).catch((err: unknown) =>
      logger.warn('waking workers for the returned requests failed', { err }),
    );
    return returned;
  };

  /** Models the engine said it does not serve, and until when they are not leased. */
  const missing = new Map<string, number>();
  const modelMissing = async (job: Job) => {
    if (!missing.has(job.model)) {
      logger.warn('the engine does not serve this model; its requests go back to the queue and it is not leased for 30 s', {
        model: job.model,
      });
    }
    missing.set(job.model, Date.now() + MODEL_MISSING_PAUSE_MS);
    // Every request of that model would come back the same way: its ranges all go back, unfailed.
    await giveBack(
      [
        job.rangeId,
        ...heldJobs()
          .filter((j) => j.model === job.model)
          .map((j) => j.rangeId),
      ],
      () => true,
    );
  };
  const keyAccepted = createKeyGate(client, logger);
  /** The engine refused our API key: leasing stops and every range held goes back, attempts refunded. */
  const unauthorized = async (job: Job) => {
    keyAccepted.reportDown();
    await giveBack([job.rangeId, ...heldJobs().map((j) => j.rangeId)], () => true);
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
      // A full lease may mean more is queued; a short one does not mean the queue is empty (a
      // locked range passed over, this worker's share of a batch reached): see wakeAtHeld.
      if (leased.length >= limit) drained = false;
      got += leased.length;
      const lease = ++leaseNumber;
      for (const request of leased) leases.set(request.rangeId, lease);
      arriving = lease;
      try {
        await buffer.add(leased);
      } finally {
        arriving = 0;
      }
      pump();
    }
    if (got > 0) busyAt = Date.now();
    return drained ? 'empty' : 'more';
  };

  /**
   * An engine that stays unreachable must not keep its worker's leases: they are heartbeated,
   * so without this they would wait for it for as long as it is gone, and their batches with them.
   */
  const handBack = async () => {
    const held = heldJobs();
    if (held.length === 0) return;
    logger.warn('the engine has been unreachable too long; the requests waiting for it go back to the queue', {
      downMs: options.gate.downForMs(),
      requests: held.length,
    });
    // Never sent, the attempt is refunded; sent to the engine that went down, it counts (that request may be what brings it down).
    const sent = new Set([...inFlight.values()].filter((e) => e.sent).map((e) => e.job.rangeId));
    await giveBack(
      held.map((j) => j.rangeId),
      (rangeId) => !sent.has(rangeId),
    );
  };

  const leaseLoop = async () => {
    let failures = 0;
    while (!stopped) {
      if (!options.gate.up && options.gate.downForMs() >= (timings.engineDownMs ?? ENGINE_DOWN_MS)) await handBack();
      if (paused || !options.gate.up || !keyAccepted.up) {
        await idle.sleep(timings.pollMs);
        continue;
      }
      try {
        const round = await leaseRound();
        failures = 0;
        queueEmpty = round === 'empty';
        const held = holding();
        wakeAtHeld = round === 'empty' && held > 0 ? Math.floor(held / 2) : -1;
        if (round !== 'more') await idle.sleep(round === 'empty' ? timings.pollMs : timings.pollMs / 4);
      } catch (err) {
        if (failures++ % 20 === 0) logger.warn('leasing failed; trying again', { err });
        await idle.sleep(Math.min(timings.pollMs * 2 ** Math.min(failures, 4), 10_000));
      }
    }
  };

  const leaseHeartbeat = createLeaseHeartbeat({
    database,
    owner: id,
    leaseMs: timings.leaseMs,
    logger,
    held: heldRanges,
    writing: () => writer.ranges(),
    flush: () => writer.flush(Math.min(2000, timings.leaseMs / 4)),
    drop,
    settle: (batchIds) => settleAndPublish(settleDeps, batchIds),
    onFailure: () => metrics?.heartbeatFailures.inc(),
  });
  const heartbeat = createPeriodic(
    () =>
      oneAtATime(async () => {
        await leaseHeartbeat.beat();
        forgetLeases();
      }),
    timings.heartbeatMs,
  );

  return {
    start() {
      leasing = leaseLoop();
      heartbeat.start();
      load.start();
    },
    nudge(model) {
      if (model === undefined || options.models().includes(model)) {
        queueEmpty = false;
        idle.wake();
      }
    },
    // A beat under way may have read the batches before the cancel that calls this: one more after it.
    heartbeatNow: () => void heartbeat.run().then(() => heartbeat.run()),
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      queueEmpty = false;
      busyAt = Date.now();
      idle.wake();
    },
    idleForMs() {
      if (inFlight.size > 0 || buffer.size > 0 || writer.pending > 0 || !queueEmpty) return 0;
      return Date.now() - busyAt;
    },
    stats: () => ({
      inFlight: inFlight.size,
      buffered: buffer.size,
      target: capacity.target,
      unwritten: writer.pending,
      completed,
      failed,
      completionRate: load.completionRate,
    }),
    async drain(timeoutMs) {
      paused = true;
      stopped = true;
      idle.close();
      const deadline = Date.now() + timeoutMs;
      // A lease round under way adds what it leased to the buffer when it ends: wait for it, so that is given back too.
      const waited = new AbortController();
      await Promise.race([leasing, sleep(timeoutMs, waited.signal)]);
      waited.abort();
      // Ranges nothing has started on go back at once, for other workers to start while the rest finishes here.
      const started = new Set([...[...inFlight.values()].map((e) => e.job.rangeId), ...writer.ranges()]);
      const unstarted = [...new Set(buffer.jobs().map((j) => j.rangeId))].filter((rangeId) => !started.has(rangeId));
      drop(underLease(unstarted));
      await release(unstarted, true);
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const interrupted = drop(heldRanges());
      await writer.flush();
      // Every range still leased to this worker goes back, the attempt refunded: finished lines keep their results.
      const returned = await release(undefined, true);
      heartbeat.stop();
      load.stop();
      keyAccepted.close();
      errorLog.close();
      writer.close();
      await afterReturnedLeases(settleDeps, returned).catch((err: unknown) =>
        logger.warn('waking workers for the returned requests failed', { err }),
      );
      logger.info('worker drained', { finishedInFlight: interrupted === 0, released: returned.reduce((n, r) => n + r.n, 0) });
    },
  };
}

/** A request in flight: its task's abort, its job, and how its current call stands. */
interface InFlight {
  controller: AbortController;
  job: Job;
  /** performance.now() when its current call was sent. */
  startedAt: number;
  answering: boolean;
  atEngine: boolean;
  /** True once any call of it went to the engine. */
  sent: boolean;
}
