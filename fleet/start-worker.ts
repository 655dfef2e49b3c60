import { createEventBus, publishWorkerEvent, type EventBus } from '../core/events/index.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import type { WorkerMetrics } from '../core/metrics/index.ts';
import {
  CANCEL_CHANNEL,
  createDatabase,
  heartbeatWorker,
  listModels,
  QUEUE_CHANNEL,
  registerWorker,
  runMigrations,
  setWorkerStatus,
  workerConnectionName,
  type Database,
} from '../schema/index.ts';
import { engineLaunch, type WorkerConfig } from './config.ts';
import { sleep } from './engine/backoff.ts';
import { createEngineClient } from './engine/client.ts';
import { createEngineGate } from './engine/gate.ts';
import { createWatchdog } from './engine/watchdog.ts';
import { createCapacity } from './worker/capacity.ts';
import { createLoadReader } from './worker/engine-metrics.ts';
import { createGpuStatsReader } from './worker/gpu-stats.ts';
import { createModelSwitcher } from './worker/model-switcher.ts';
import { createOwnedEngine } from './worker/owned-engine.ts';
import { createSweeper } from './worker/sweeper.ts';
import { releaseDeadPredecessors } from './worker/dead-workers.ts';
import { createWorker, type Worker } from './worker/worker.ts';

/** How often a worker given an ENGINE_URL re-reads the engine's models. */
const MODELS_REFRESH_MS = 30_000;

/** What a service started alongside the worker gets. */
export interface ServiceContext {
  database: Database;
  bus: EventBus;
  logger: Logger;
  workerId: string;
}

/** A long-running loop that lives and stops with the worker process. */
export interface Service {
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
   * (fleet/handlers/) is started here, so that every fleet process drains the handler outbox.
   */
  services?: ((context: ServiceContext) => Service | Promise<Service>)[];
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
  /** Stops leasing, finishes or returns in-flight work, stops services and the owned engine, and closes what it opened. */
  stop(): Promise<void>;
}

/**
 * Starts one worker process: registers it, releases the leases of a dead predecessor on the
 * same host and GPU, brings up (or finds) the engine, and runs the worker, the sweeper,
 * the model switcher (for an owned engine) and the services until `stop`.
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
  const engineUrl = config.ENGINE_URL ?? `http://127.0.0.1:${config.ENGINE_PORT}`;
  const watchdog = createWatchdog();
  const client = createEngineClient({
    baseUrl: engineUrl,
    watchdog,
    connectTimeoutMs: config.ENGINE_CONNECT_TIMEOUT_MS,
    firstTokenTimeoutMs: config.ENGINE_FIRST_TOKEN_TIMEOUT_MS,
    stallTimeoutMs: config.ENGINE_STALL_TIMEOUT_MS,
    apiKey: config.ENGINE_API_KEY,
    profile: config.ENGINE_PROFILE,
    onNote: (message, fields) => logger.info(message, fields),
  });
  const gate = createEngineGate({
    health: () => client.health(),
    probeMs: 500,
    onChange: (up) =>
      logger[up ? 'info' : 'warn'](up ? 'engine reachable again' : 'engine unreachable; requests wait for /health', { engineUrl }),
  });
  // A few sockets stay free for /health and /metrics.
  const maxInFlight = Math.min(config.MAX_IN_FLIGHT, config.fetchLimit - 8);
  if (maxInFlight < config.MAX_IN_FLIGHT && config.fetchLimit < 1024) {
    logger.warn(
      'the runtime allows few concurrent fetches; start the worker with BUN_CONFIG_MAX_HTTP_REQUESTS=8192 (npm scripts and the supervisor do)',
      { maxInFlight },
    );
  }
  const capacity = createCapacity({
    slots: config.ENGINE_MAX_NUM_SEQS,
    initial: Math.min(config.INITIAL_IN_FLIGHT, maxInFlight),
    max: maxInFlight,
    onNote: ({ message, fields }) => logger.info(message, fields),
  });
  let models: string[] = config.WORKER_MODEL ? [config.WORKER_MODEL] : [];
  let status = 'starting';
  /** The model an owned engine is being switched to, named in the worker's row meanwhile. */
  let loading: string | null = null;
  const base = { id, host: config.WORKER_HOST, gpu: config.WORKER_GPU };
  const workerEvent = (type: 'worker.up' | 'worker.down') =>
    publishWorkerEvent(bus, { type, workerId: id, host: base.host, gpu: base.gpu, model: models[0] ?? null }).catch(() => {});

  await registerWorker(database.db, {
    ...base,
    pid: process.pid,
    runtime: config.WORKER_RUNTIME,
    model: models[0] ?? null,
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
    models: () => models,
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

  const gpuStats = createGpuStatsReader(config.WORKER_GPU);
  const writeRow = async () => {
    const stats = await gpuStats();
    const s = worker.stats();
    // The engine's own cards (vLLM's root and max_model_len) while they list what the worker serves.
    const cards = client.modelCards.filter((card) => models.includes(card.id));
    const engineModels = cards.length === models.length ? cards : models.map((name) => ({ id: name }));
    await heartbeatWorker(database.db, {
      id,
      status,
      model: loading ?? models[0] ?? null,
      engineModels,
      engineUrl,
      capacity: s.target,
      inFlight: s.inFlight,
      completed: s.completed,
      failed: s.failed,
      completionRate: s.completionRate,
      gpuStats: stats,
    });
  };
  // One row write at a time, and one more after it when asked meanwhile: two concurrent
  // writes could land out of order and leave a stale status (`switching`) behind.
  let writing: Promise<void> | null = null;
  let again = false;
  const beat = (): Promise<void> => {
    if (writing) {
      again = true;
      return writing.then(() => (writing ? writing : undefined));
    }
    writing = writeRow().finally(() => {
      writing = null;
      if (again) {
        again = false;
        void beat().catch(() => {});
      }
    });
    return writing;
  };
  const rowTimer = setInterval(
    () => void beat().catch((err: unknown) => logger.warn('worker heartbeat failed', { err })),
    config.HEARTBEAT_MS,
  );

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
  const services = await Promise.all((options.services ?? []).map((make) => make({ database, bus, logger, workerId: id })));

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
          models = [model.name];
          options.metrics?.setModel(model.name);
          capacity.reset(model.maxConcurrency);
          void beat().catch(() => {});
        },
        onStatus(next, model) {
          status = next;
          loading = next === 'switching' ? model.name : null;
          void beat().catch(() => {});
        },
      })
    : null;

  /**
   * The registry's maxConcurrency of the model an engine-URL worker serves is that engine's
   * --max-num-seqs: the capacity is then known, not learned (an owned engine gets it in onModel).
   */
  let registrySlots: number | null = null;
  const applyRegistrySlots = async () => {
    const registered = (await listModels(database.db)).find((m) => models.includes(m.name) && m.maxConcurrency);
    const slots = registered?.maxConcurrency ?? null;
    if (slots === registrySlots) return;
    registrySlots = slots;
    capacity.reset(slots);
    logger.info(
      slots
        ? "the registry sets the engine's capacity"
        : "the registry sets no capacity for the engine's model; it is learned from /metrics",
      { model: registered?.name ?? models[0], maxConcurrency: slots, target: capacity.target },
    );
  };
  let modelsTimer: ReturnType<typeof setInterval> | undefined;
  if (switcher) {
    worker.pause();
    worker.start();
    const pinned = config.WORKER_MODEL
      ? {
          name: config.WORKER_MODEL,
          source: config.WORKER_MODEL,
          engineArgs: [],
          maxConcurrency: null,
          queued: 0,
          waitedMs: 0,
          servingWorkers: 0,
        }
      : null;
    await switcher.start(pinned, options.signal);
  } else {
    while (models.length === 0 && !options.signal?.aborted) {
      try {
        models = await client.models();
      } catch (err) {
        if (/answered 40[13]\b/.test(String((err as Error).message))) {
          logger.error("the engine refuses this worker's API key (401/403 on /v1/models): set ENGINE_API_KEY to the engine's --api-key", {
            engineUrl,
          });
        } else logger.warn('waiting for the engine to list its models', { engineUrl, err });
        await sleep(2000, options.signal);
      }
    }
    await applyRegistrySlots().catch((err: unknown) =>
      logger.warn("reading the model registry failed; the engine's capacity is learned from its /metrics", { err }),
    );
    worker.start();
    // An engine may be restarted with other models, and the registry's maxConcurrency may change: follow both.
    modelsTimer = setInterval(() => {
      if (!config.WORKER_MODEL) {
        client.models().then(
          (listed) => {
            if (listed.length && listed.join() !== models.join())
              logger.info('the engine serves other models now', { models: listed, before: models });
            if (listed.length) models = listed;
          },
          () => {},
        );
      }
      void applyRegistrySlots().catch(() => {});
    }, MODELS_REFRESH_MS);
  }
  if (!options.signal?.aborted) {
    status = 'ready';
    options.metrics?.setModel(models[0] ?? null);
    await beat();
    await workerEvent('worker.up');
    logger.info('worker ready', { models, engineUrl, ownedEngine: owned, capacity: capacity.target });
  }

  return {
    workerId: id,
    worker,
    async stop() {
      status = 'draining';
      switcher?.stop();
      clearInterval(modelsTimer);
      await beat().catch(() => {});
      await worker.drain(config.DRAIN_TIMEOUT_MS);
      sweeper.stop();
      clearInterval(rowTimer);
      for (const service of services) await service.stop().catch((err: unknown) => logger.warn('a service failed to stop', { err }));
      for (const off of unlisten) await off().catch(() => {});
      await engine?.stop();
      gate.close();
      watchdog.close();
      await setWorkerStatus(database.db, id, 'stopped').catch(() => {});
      await workerEvent('worker.down');
      if (!options.bus) await bus.close();
      if (!options.database) await database.close();
      logger.info('worker stopped');
    },
  };
}
