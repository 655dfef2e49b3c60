// One worker process (one GPU): `bun fleet/entry/worker.ts` or `deno run -A fleet/entry/worker.ts`, configured by the environment (fleet/config.ts).
import { surviveConnectionLoss } from '../../core/connection-loss.ts';
import { ConfigError } from '../../core/env.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsEndpoint, createRegistry } from '../../core/metrics/index.ts';
import { loadWorkerConfig } from '../config.ts';
import { handlerRunnerLoop, loadFleetHandlers } from '../handler-runner/index.ts';
import { createWorkerMetrics } from '../worker/metrics.ts';
import { startWorkerProcess } from '../worker/worker-process.ts';
import { serveFetch } from './serve-fetch.ts';

// Signals are taken from the first moment: one that comes during start-up stops the worker once it is up.
// It also ends a start-up that waits: for a first model, or for an engine loading one.
const startUp = new AbortController();
let stopNow: (() => Promise<void>) | null = null;
const onSignal = () => (stopNow ? void stopNow() : startUp.abort());
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

try {
  const config = loadWorkerConfig();
  surviveConnectionLoss(createLogger({ level: config.LOG_LEVEL, fields: { service: 'worker', worker_id: config.workerId } }));
  const registry = createRegistry();
  const metrics = createWorkerMetrics(registry, {
    workerId: config.workerId,
    host: config.WORKER_HOST,
    gpu: config.WORKER_GPU,
    runtime: config.WORKER_RUNTIME,
  });
  const handlers = await loadFleetHandlers({ HANDLER_MANIFESTS: config.HANDLER_MANIFESTS, manifestEnv: config.engineEnv });
  const running = await startWorkerProcess(config, {
    metrics,
    loops: [
      handlerRunnerLoop(handlers, {
        leaseMs: config.HANDLER_LEASE_MS,
        concurrency: config.HANDLER_CONCURRENCY,
        destinations: config.destinations,
        secrets: config.secrets,
      }),
    ],
    signal: startUp.signal,
  });
  const metricsServer =
    config.METRICS_PORT === undefined
      ? null
      : serveFetch({ port: config.METRICS_PORT, hostname: '0.0.0.0', fetch: createMetricsEndpoint(registry) });
  if (metricsServer)
    console.error(
      JSON.stringify({
        level: 'info',
        msg: 'worker metrics listening',
        service: 'worker',
        worker_id: config.workerId,
        metrics_url: `http://127.0.0.1:${metricsServer.port}/metrics`,
      }),
    );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    await metricsServer?.stop();
    process.exit(0);
  };
  stopNow = stop;
  if (startUp.signal.aborted) void stop();
  // A worker whose supervisor died (even by SIGKILL) stops too, taking its engine down with it.
  if (config.SUPERVISOR_PID) {
    const parent = config.SUPERVISOR_PID;
    setInterval(() => process.ppid !== parent && void stop(), 1000).unref();
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
