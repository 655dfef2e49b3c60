import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { publishWorkerEvent, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import type { Database } from '../../schema/index.ts';
import type { SupervisorConfig } from '../config.ts';
import { releaseDeadWorker } from '../worker/dead-workers.ts';
import type { SupervisorArgs } from './args.ts';
import { RUNTIMES } from './runtimes.ts';

/** Options for {@link createSupervisor}. */
export interface SupervisorOptions {
  args: SupervisorArgs;
  config: SupervisorConfig;
  database: Database;
  bus: EventBus;
  logger: Logger;
}

interface Slot {
  index: number;
  gpu: string;
  child: ChildProcess | null;
  workerId: string;
  startedAt: number;
  failures: number;
  restart: ReturnType<typeof setTimeout> | null;
}

/** A worker's exit code that means its configuration is wrong: restarting would not help. */
const CONFIG_ERROR_EXIT = 2;
/** A worker that ran this long before crashing restarts at once again (its backoff is reset). */
const STABLE_MS = 60_000;

/**
 * Runs one worker process per GPU and keeps them running: a crashed worker's process
 * group is killed (and the engine it owned ends itself with it), its leases go back
 * to the queue at once, and it restarts after 1, 2, 4 ... 60 seconds. `stop` drains every
 * worker (they stop leasing and finish or return in-flight work) and resolves when all
 * have exited.
 */
export function createSupervisor({ args, config, database, bus, logger }: SupervisorOptions) {
  const slots: Slot[] = args.gpus.map((gpu, index) => ({
    index,
    gpu,
    child: null,
    workerId: '',
    startedAt: 0,
    failures: 0,
    restart: null,
  }));
  let stopping = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const launch = (slot: Slot) => {
    slot.restart = null;
    if (stopping) return;
    const runtime = (RUNTIMES[args.runtime] ?? (RUNTIMES.bun as NonNullable<(typeof RUNTIMES)['bun']>))();
    slot.workerId = `${args.host}/gpu${slot.gpu}/${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    const engine = args.engineUrls
      ? { ENGINE_URL: args.engineUrls[slot.index] ?? '', ENGINE: '', ENGINE_CMD: '' }
      : { ENGINE: args.engine ?? '', ENGINE_CMD: args.engineCmd ?? '', ENGINE_PORT: String(args.enginePort + slot.index), ENGINE_URL: '' };
    const env = {
      ...config.childEnv,
      ...runtime.env,
      ...engine,
      WORKER_ID: slot.workerId,
      WORKER_GPU: slot.gpu,
      WORKER_HOST: args.host,
      WORKER_RUNTIME: args.runtime,
      SUPERVISOR_PID: String(process.pid),
      ...(args.model ? { WORKER_MODEL: args.model } : {}),
      ...(args.metricsPort === null ? {} : { METRICS_PORT: String(args.metricsPort + slot.index) }),
    };
    // Its own process group: the supervisor kills it when the worker dies. The worker's engine has a
    // group of its own, which a watcher in it ends when the worker is gone (fleet/worker/owned-engine.ts).
    const child = spawn(runtime.command, runtime.args, { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    slot.child = child;
    slot.startedAt = Date.now();
    logger.info('worker started', { gpu: slot.gpu, workerId: slot.workerId, pid: child.pid, runtime: args.runtime });
    const workerId = slot.workerId;
    child.on('error', (err) => {
      logger.error('could not start a worker', { err, gpu: slot.gpu, command: runtime.command });
      // A process that never started emits no 'exit': end it here, or it is never restarted and `stop` waits for it forever.
      if (child.pid === undefined) void onExit(slot, child, workerId, null, null);
    });
    child.on('exit', (code, signal) => void onExit(slot, child, workerId, code, signal));
  };

  const onExit = async (slot: Slot, child: ChildProcess, workerId: string, code: number | null, signal: NodeJS.Signals | null) => {
    slot.child = null;
    const clean = code === 0;
    if (child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    }
    if (!clean) {
      logger.warn('worker exited', { gpu: slot.gpu, workerId, code, signal });
      try {
        const requests = await releaseDeadWorker({ database, bus, logger }, workerId, config.MAX_ATTEMPTS);
        if (requests) logger.info("returned the dead worker's leases to the queue", { workerId, requests });
        await publishWorkerEvent(bus, { type: 'worker.down', workerId, host: args.host, gpu: slot.gpu, model: null });
      } catch (err) {
        logger.warn("could not return the dead worker's leases now; they expire and are reaped", { err, workerId });
      }
    }
    if (stopping) {
      if (slots.every((s) => !s.child)) finish(exitCode);
      return;
    }
    if (code === CONFIG_ERROR_EXIT) {
      logger.error('a worker rejected its configuration; fix it and start the fleet again', { gpu: slot.gpu });
      exitCode = CONFIG_ERROR_EXIT;
      void stop();
      return;
    }
    if (Date.now() - slot.startedAt > STABLE_MS) slot.failures = 0;
    const delay = Math.min(60_000, 1000 * 2 ** slot.failures++);
    logger.info('restarting worker', { gpu: slot.gpu, inMs: delay });
    slot.restart = setTimeout(() => launch(slot), delay);
  };

  const stop = async () => {
    if (stopping) return finished;
    stopping = true;
    for (const slot of slots) {
      if (slot.restart) clearTimeout(slot.restart);
      slot.child?.kill('SIGTERM');
    }
    if (slots.every((s) => !s.child)) finish(exitCode);
    // A worker drains for DRAIN_TIMEOUT_MS, then stops its engine; past that, force it.
    const force = setTimeout(() => {
      for (const slot of slots) if (slot.child?.pid) process.kill(-slot.child.pid, 'SIGKILL');
    }, config.DRAIN_TIMEOUT_MS + 45_000);
    await finished;
    clearTimeout(force);
    return finished;
  };

  return {
    start() {
      for (const slot of slots) launch(slot);
    },
    stop,
    /** Resolves with the exit code once every worker has exited for good. */
    finished,
    /** The worker ids and pids now running, by GPU (for logs and tests). */
    workers: () => slots.map((s) => ({ gpu: s.gpu, workerId: s.workerId, pid: s.child?.pid ?? null })),
  };
}
