import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../core/logger.ts';
import { sleep } from '../engine/backoff.ts';
import { engineCommandLine, type EngineLaunch, type ModelSpec } from './engine-command.ts';

export { renderEngineCommand, type EngineLaunch, type ModelSpec } from './engine-command.ts';

/** Options for {@link createOwnedEngine}. */
export interface OwnedEngineOptions {
  /** The vLLM preset, or a command template: `{model}` (the source), `{name}` (the served name), `{port}`, `{gpu}`, `{args}` (the registry's engine arguments). */
  launch: EngineLaunch;
  port: number;
  gpu: string;
  /** The environment the engine inherits. */
  env: Record<string, string | undefined>;
  logger: Logger;
  health: () => Promise<boolean>;
  /** How long a start may take until /health answers (loading weights takes minutes). */
  startTimeoutMs: number;
  /** How long a stopping engine has after SIGTERM before its process group is killed (default 30 s). */
  stopGraceMs?: number;
  /** The process whose death takes the engine down with it (default: this one, the worker). */
  watchPid?: number;
  /** Called when the engine exits on its own; it is restarted with backoff. */
  onCrash?: () => void;
}

/** An engine process this worker starts, restarts after a crash, and stops. */
export interface OwnedEngine {
  readonly model: ModelSpec | null;
  /** Starts the engine with a model and waits for /health; throws when it exits or times out first. */
  start(model: ModelSpec): Promise<void>;
  stop(): Promise<void>;
}

/** Sends a signal to a process group; false when no process of it is left. */
const signalGroup = (pgid: number, signal: NodeJS.Signals | 0) => {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
};

/** Waits until no process of the group is left; false when some still are after `ms`. */
const groupGone = async (pgid: number, ms: number) => {
  const deadline = Date.now() + ms;
  while (signalGroup(pgid, 0)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
};

/**
 * Creates the owned engine, with CUDA_VISIBLE_DEVICES pinned to the worker's GPU. It runs in a
 * process group of its own, and every stop or crash ends the whole group: vLLM's EngineCore is a
 * child process that outlives a killed API server and keeps the GPU's memory (it does not watch
 * its parent), so killing the API server's pid alone leaves the next start out of memory. A
 * watcher in the group kills it when the worker dies, even by SIGKILL: the supervisor kills the
 * worker's group, which the engine's is not.
 */
export function createOwnedEngine(options: OwnedEngineOptions): OwnedEngine {
  const { logger } = options;
  const graceMs = options.stopGraceMs ?? 30_000;
  const watchPid = options.watchPid ?? process.pid;
  let child: ChildProcess | null = null;
  /** The process group of the engine last started: stopped even after its leader has exited. */
  let group: number | null = null;
  let current: ModelSpec | null = null;
  let stopping = false;
  let crashes = 0;

  const launch = (model: ModelSpec) => {
    const command = engineCommandLine(options.launch, { model, port: options.port, gpu: options.gpu });
    logger.info('starting engine', { command, gpu: options.gpu, model: model.name });
    // The watcher polls once a second; the supervisor restarts a dead worker after 1 s at the earliest.
    const watcher = `(while kill -0 ${watchPid} 2>/dev/null; do sleep 1; done; kill -KILL 0) </dev/null &`;
    const proc = spawn('sh', ['-c', `${watcher} exec ${command}`], {
      env: { ...options.env, CUDA_VISIBLE_DEVICES: options.gpu },
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    child = proc;
    const pgid = proc.pid ?? null;
    group = pgid;
    proc.on('exit', (code, signal) => {
      if (child !== proc) return;
      child = null;
      if (stopping) return;
      crashes++;
      logger.error('engine exited; restarting it', { code, signal, model: model.name, crashes });
      options.onCrash?.();
      // What the engine started (EngineCore) is still running and holds the GPU's memory.
      if (pgid) signalGroup(pgid, 'SIGKILL');
      const backoff = sleep(Math.min(30_000, 500 * 2 ** Math.min(crashes, 6)));
      void Promise.all([pgid ? groupGone(pgid, 5000) : null, backoff]).then(() => {
        if (!stopping && !child && current === model) void waitReady(launch(model)).catch(() => {});
      });
    });
    return proc;
  };

  const waitReady = async (proc: ChildProcess) => {
    const deadline = Date.now() + options.startTimeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`the engine exited (${proc.exitCode ?? proc.signalCode}) before it was ready`);
      if (await options.health()) {
        crashes = 0;
        return;
      }
      await sleep(500);
    }
    throw new Error(`the engine did not answer /health within ${options.startTimeoutMs} ms`);
  };

  const stop = async () => {
    stopping = true;
    child = null;
    const pgid = group;
    group = null;
    if (!pgid || !signalGroup(pgid, 'SIGTERM')) return;
    if (await groupGone(pgid, graceMs)) return;
    logger.warn('the engine did not stop after SIGTERM; killing its process group', { graceMs, pgid });
    signalGroup(pgid, 'SIGKILL');
    await groupGone(pgid, 5000);
  };

  return {
    get model() {
      return current;
    },
    async start(model) {
      await stop();
      stopping = false;
      current = model;
      try {
        await waitReady(launch(model));
      } catch (error) {
        current = null;
        await stop();
        throw error;
      }
      logger.info('engine ready', { model: model.name, port: options.port });
    },
    stop,
  };
}
