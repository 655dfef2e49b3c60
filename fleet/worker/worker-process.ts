import { createEventBus, publishWorkerEvent, type EventBus } from '../../core/events/index.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import type { WorkerMetrics } from './metrics.ts';
import {
  CANCEL_CHANNEL,
  createDatabase,
  QUEUE_CHANNEL,
  registerWorker,
  runMigrations,
  setWorkerStatus,
  workerConnectionName,
  type Database,
} from '../../schema/index.ts';
import { engineLaunch, type WorkerConfig } from '../config.ts';
import { connectToEngine } from './engine-connection.ts';
import { createLoadReader } from './engine-metrics.ts';
import { createEngineModels } from './engine-models.ts';
import { createModelSwitcher } from './model-switcher.ts';
import { createOwnedEngine } from './owned-engine.ts';
import { createSweeper } from './sweeper.ts';
import { releaseDeadPredecessors } from './dead-workers.ts';
import { createWorker, type Worker } from './worker.ts';
import { createWorkerRow } from './worker-row.ts';

/** What a background loop started alongside the worker gets. */
export interface BackgroundLoopContext {
  database: Database;
  bus: EventBus;
  logger: Logger;
  workerId: string;
}

/** A long-running loop that lives and stops with the worker process. */
export interface BackgroundLoop {
  stop(): Promise<void>;
}

/** Options for {@link startWorkerProcess}: what embedded mode shares, and what other parts plug in. */
export interface WorkerProcessOptions {
  /** The database to use (embedded mode shares the gateway's PGlite); opened from the config otherwise. */
  database?: Database;
  bus?: EventBus;
  logger?: Logger;
  metrics?: WorkerMetrics;
  /**
   * Loops started with the worker and stopped before it exits. The result-handler runner
   * (fleet/handler-runner/) is started here, so that every fleet process drains the handler outbox.
   */
  loops?: ((context: BackgroundLoopContext) => BackgroundLoop | Promise<BackgroundLoop>)[];
  /**
   * A stop asked for during start-up: the wait for a first model or for the engine to list its
   * models ends, and so does a model load in progress; the worker comes up idle, to be stopped.
   */
  signal?: AbortSignal;
}

/** A running worker process. */
export interface WorkerProcess {
  workerId: string;
  worker: Worker;
  /** Stops leasing, finishes or returns in-flight work, stops the background loops and the owned engine, and closes what it opened. */
  stop(): Promise<void>;
}

/**
 * Starts one worker process: registers it, releases the leases of a dead predecessor on the
 * same host and GPU, brings up (or finds) the engine, and runs the worker, the sweeper,
 * the model switcher (for an owned engine) and the background loops until `stop`.
 */
export async function startWorkerProcess(config: WorkerConfig, options: WorkerProcessOptions = {}): Promise<WorkerProcess> {
  const id = config.workerId;
  const logger = (options.logger ?? createLogger({ level: config.LOG_LEVEL, fields: { service: 'worker' } })).child({
    workerId: id,
    gpu: config.WORKER_GPU,
  });
  // With connections of its own, named after it, a killed worker is noticed by the connections it leaves behind.
  const connectionName = !options.database && config.DATABASE_URL ? workerConnectionName(id) : null;
  const database =
    options.database ??
    (await createDatabase({
      url: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      maxConnections: 6,
      applicationName: connectionName ?? 'vbs-worker',
    }));
  if (!options.database) await runMigrations(database);
  const bus = options.bus ?? (await createEventBus({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger }));
  const launch = engineLaunch(config);
  const owned = launch !== null;
  const connection = connectToEngine(config, logger);
  const { url: engineUrl, client, gate, capacity } = connection;
  // The models to lease for: an engine-URL worker's follow its engine; an owned engine's, the model switcher's choice.
  const engineModels = launch ? null : createEngineModels({ client, database, capacity, logger, engineUrl, pinned: config.WORKER_MODEL });
  let ownedModels: string[] = config.WORKER_MODEL ? [config.WORKER_MODEL] : [];
  const models = () => engineModels?.current() ?? ownedModels;
  let status = 'starting';
  /** The model an owned engine is being switched to, named in the worker's row meanwhile. */
  let loading: string | null = null;
  const base = { id, host: config.WORKER_HOST, gpu: config.WORKER_GPU };
  const workerEvent = (type: 'worker.up' | 'worker.down') =>
    publishWorkerEvent(bus, { type, workerId: id, host: base.host, gpu: base.gpu, model: models()[0] ?? null }).catch(() => {});

  await registerWorker(database.db, {
    ...base,
    pid: process.pid,
    runtime: config.WORKER_RUNTIME,
    model: models()[0] ?? null,
    engineUrl,
    status,
    connectionName,
  });
  await releaseDeadPredecessors({ database, bus, logger }, { ...base, maxAttempts: config.MAX_ATTEMPTS });

  const worker = createWorker({
    id,
    database,
    bus,
    logger,
    client,
    gate,
    capacity,
    // llama-server guards /metrics with its --api-key too.
    readLoad: createLoadReader({ baseUrl: client.baseUrl, apiKey: config.ENGINE_API_KEY }),
    models,
    timings: {
      leaseMs: config.LEASE_TTL_MS,
      heartbeatMs: config.HEARTBEAT_MS,
      pollMs: config.POLL_MS,
      flushMs: config.FLUSH_MS,
      loadPollMs: 500,
      engineDownMs: config.ENGINE_DOWN_RELEASE_MS,
    },
    flushMax: config.FLUSH_MAX,
    leaseMax: config.LEASE_MAX,
    maxRetries: config.ENGINE_MAX_RETRIES,
    backoff: { baseMs: config.ENGINE_BACKOFF_BASE_MS, maxMs: config.ENGINE_BACKOFF_MAX_MS },
    maxAttempts: config.MAX_ATTEMPTS,
    metrics: options.metrics,
  });

  const row = createWorkerRow({
    database,
    id,
    gpu: config.WORKER_GPU,
    engineUrl,
    heartbeatMs: config.HEARTBEAT_MS,
    logger,
    state: () => ({ status, models: models(), loading }),
    stats: () => worker.stats(),
    modelCards: () => client.modelCards,
  });
  row.start();

  const unlisten = [
    await database.listen(QUEUE_CHANNEL, (model) => worker.nudge(model)),
    await database.listen(CANCEL_CHANNEL, () => worker.heartbeatNow()),
  ];
  const sweeper = createSweeper({
    database,
    bus,
    logger,
    maxAttempts: config.MAX_ATTEMPTS,
    reapMs: config.REAP_MS,
    sweepMs: config.SWEEP_MS,
    workerStaleMs: Math.max(15_000, config.HEARTBEAT_MS * 5),
    // A live worker's heartbeat is at most one interval old: one and a half is late.
    orphanGraceMs: database.kind === 'postgres' ? Math.round(config.HEARTBEAT_MS * 1.5) : undefined,
  });
  sweeper.start();
  const loops = await Promise.all((options.loops ?? []).map((make) => make({ database, bus, logger, workerId: id })));

  const engine = launch
    ? createOwnedEngine({
        launch,
        port: config.ENGINE_PORT,
        gpu: config.WORKER_GPU,
        env: config.engineEnv,
        logger,
        health: () => client.health(),
        startTimeoutMs: config.ENGINE_START_TIMEOUT_MS,
        onCrash: () => gate.reportDown(),
      })
    : null;
  const switcher = engine
    ? createModelSwitcher({
        workerId: id,
        host: base.host,
        gpu: base.gpu,
        database,
        bus,
        logger,
        engine,
        worker,
        checkMs: config.MODEL_CHECK_MS,
        idleSwitchMs: config.MODEL_IDLE_SWITCH_MS,
        fairnessMs: config.MODEL_FAIRNESS_MS,
        liveMs: Math.max(15_000, config.HEARTBEAT_MS * 5),
        onModel(model) {
          ownedModels = [model.name];
          options.metrics?.setModel(model.name);
          capacity.reset(model.maxConcurrency);
          void row.write().catch(() => {});
        },
        onStatus(next, model) {
          status = next;
          loading = next === 'switching' ? model.name : null;
          void row.write().catch(() => {});
        },
      })
    : null;

  if (switcher) {
    worker.pause();
    worker.start();
    await switcher.start(config.WORKER_MODEL, options.signal);
  } else if (engineModels) {
    await engineModels.waitForModels(options.signal);
    worker.start();
    engineModels.start();
  }
  if (!options.signal?.aborted) {
    status = 'ready';
    options.metrics?.setModel(models()[0] ?? null);
    await row.write();
    await workerEvent('worker.up');
    logger.info('worker ready', { models: models(), engineUrl, ownedEngine: owned, capacity: capacity.target });
  }

  return {
    workerId: id,
    worker,
    async stop() {
      status = 'draining';
      switcher?.stop();
      engineModels?.stop();
      await row.write().catch(() => {});
      await worker.drain(config.DRAIN_TIMEOUT_MS);
      sweeper.stop();
      row.stop();
      for (const loop of loops) await loop.stop().catch((err: unknown) => logger.warn('a background loop failed to stop', { err }));
      for (const off of unlisten) await off().catch(() => {});
      await engine?.stop();
      connection.close();
      await setWorkerStatus(database.db, id, 'stopped').catch(() => {});
      await workerEvent('worker.down');
      if (!options.bus) await bus.close();
      if (!options.database) await database.close();
      logger.info('worker stopped');
    },
  };
}
