import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../core/logger.ts';
import { sleep } from '../engine/backoff.ts';

/** What an owned engine is started with: a model of the registry. */
export interface ModelSpec {
  name: string;
  source: string;
  engineArgs: string[];
}

/** Options for {@link createOwnedEngine}. */
export interface OwnedEngineOptions {
  /** The command template: `{model}` (the source), `{name}` (the served name), `{port}`, `{gpu}`, `{args}` (the registry's engine arguments). */
  command: string;
  port: number;
  gpu: string;
  /** The environment the engine inherits. */
  env: Record<string, string | undefined>;
  logger: Logger;
  health: () => Promise<boolean>;
  /** How long a start may take until /health answers (loading weights takes minutes). */
  startTimeoutMs: number;
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

const quote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/** The command line for a model: the template with its placeholders filled in, shell-quoted. */
export function renderEngineCommand(template: string, { model, port, gpu }: { model: ModelSpec; port: number; gpu: string }): string {
  const values: Record<string, string> = {
    model: quote(model.source),
    name: quote(model.name),
    port: String(port),
    gpu: quote(gpu),
    args: model.engineArgs.map(quote).join(' '),
  };
  return template.replace(/\{(model|name|port|gpu|args)\}/g, (_, key: string) => values[key] ?? '');
}

/**
 * Creates the owned engine. It runs in the worker's process group (the supervisor kills
 * the group when a worker dies, so no orphaned engine keeps the GPU) with
 * CUDA_VISIBLE_DEVICES pinned to the worker's GPU.
 */
export function createOwnedEngine(options: OwnedEngineOptions): OwnedEngine {
  const { logger } = options;
  let child: ChildProcess | null = null;
  let current: ModelSpec | null = null;
  let stopping = false;
  let crashes = 0;

  const launch = (model: ModelSpec) => {
    const command = renderEngineCommand(options.command, { model, port: options.port, gpu: options.gpu });
    logger.info('starting engine', { command, gpu: options.gpu, model: model.name });
    const proc = spawn('sh', ['-c', `exec ${command}`], {
      env: { ...options.env, CUDA_VISIBLE_DEVICES: options.gpu },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child = proc;
    proc.on('exit', (code, signal) => {
      if (child !== proc) return;
      child = null;
      if (stopping) return;
      crashes++;
      logger.error('engine exited; restarting it', { code, signal, model: model.name, crashes });
      options.onCrash?.();
      void sleep(Math.min(30_000, 500 * 2 ** Math.min(crashes, 6))).then(() => {
        if (!stopping && !child && current === model) void waitReady(launch(model)).catch(() => {});
      });
    });
    return proc;
  };

  const waitReady = async (proc: ChildProcess) => {
    const deadline = Date.now() + options.startTimeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the engine exited (${proc.exitCode ?? proc.signalCode}) before it was ready`);
      if (await options.health()) {
        crashes = 0;
        return;
      }
      await sleep(500);
    }
    throw new Error(`the engine did not answer /health within ${options.startTimeoutMs} ms`);
  };

  const stop = async () => {
    const proc = child;
    stopping = true;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
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
