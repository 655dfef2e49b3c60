import { publishWorkerEvent, type EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import { modelDemand, type Database, type ModelDemand } from '../../schema/index.ts';
import { sleep } from '../engine/backoff.ts';
import { chooseModel } from './model-choice.ts';
import type { OwnedEngine } from './owned-engine.ts';
import type { Worker } from './worker.ts';

/** Options for {@link createModelSwitcher}. */
export interface ModelSwitcherOptions {
  workerId: string;
  host: string;
  gpu: string;
  database: Database;
  bus: EventBus;
  logger: Logger;
  engine: OwnedEngine;
  worker: Worker;
  /** Called with the new model before leasing resumes (capacity, heartbeat row). */
  onModel(model: ModelDemand): void;
  /**
   * Called with the model being loaded (`switching`) or loaded (`ready`). The worker's row names
   * the model from the start of a switch, so that other GPUs count this one as serving it and do
   * not all leave their model for the same one (then all switch back, when the fairness bound
   * comes round for the model they left).
   */
  onStatus(status: 'switching' | 'ready', model: ModelDemand): void;
  checkMs: number;
  idleSwitchMs: number;
  fairnessMs: number;
  liveMs: number;
}

/**
 * How long a model whose engine failed to start is passed over: 5 seconds, doubling with each
 * failure in a row, up to 30 minutes. Short at first: most failed starts are passing (the GPU's
 * memory not yet freed by the engine before), and when it is the only model with work the
 * GPU idles meanwhile; a model that never starts soon waits long between tries.
 */
const loadFailureWaitMs = (failures: number) => Math.min(30 * 60_000, 5000 * 2 ** (failures - 1));

/** The model WORKER_MODEL names, as if the registry had chosen it: no engine arguments or capacity of its own. */
const pinnedModel = (name: string): ModelDemand => ({
  name,
  source: name,
  engineArgs: [],
  maxConcurrency: null,
  queued: 0,
  waitedMs: 0,
  servingWorkers: 0,
});

/**
 * Loads the model the registry and the queue call for on an engine this worker owns:
 * picks the first model, then checks every `checkMs` whether to switch (see
 * {@link chooseModel}). A switch stops leasing, lets in-flight requests finish, restarts
 * the engine with the other model, waits for /health, and resumes.
 */
export function createModelSwitcher(options: ModelSwitcherOptions) {
  const { database, logger, engine, worker } = options;
  let servedSince = Date.now();
  let busy = false;
  /** Set when a stop during start-up ended a load: the failure that follows is not the model's. */
  let abandoned = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  /** Models whose engine failed to start: failures in a row, and until when they are passed over. */
  const failed = new Map<string, { failures: number; until: number }>();

  const load = async (model: ModelDemand, previous: string | null) => {
    options.onStatus('switching', model);
    if (previous) {
      worker.pause();
      while (worker.idleForMs() === 0 && (worker.stats().inFlight > 0 || worker.stats().buffered > 0)) await sleep(200);
      logger.info('switching model', { from: previous, to: model.name });
      await publishWorkerEvent(options.bus, {
        type: 'worker.model_switch',
        workerId: options.workerId,
        host: options.host,
        gpu: options.gpu,
        model: model.name,
        previousModel: previous,
      });
    }
    await engine.start({ name: model.name, source: model.source, engineArgs: model.engineArgs, maxConcurrency: model.maxConcurrency });
    failed.delete(model.name);
    servedSince = Date.now();
    options.onModel(model);
    options.onStatus('ready', model);
    worker.resume();
  };

  const check = async () => {
    if (busy) return;
    busy = true;
    let loading: string | null = null;
    try {
      const current = engine.model?.name ?? null;
      const now = Date.now();
      // A model that just failed to start is passed over: chosen again at once, it would fail again and keep the GPU from the others.
      const demand = (await modelDemand(database.db, { except: options.workerId, liveMs: options.liveMs })).filter(
        (m) => (failed.get(m.name)?.until ?? 0) <= now,
      );
      const choice = chooseModel({
        current,
        demand,
        idleForMs: worker.idleForMs(),
        servedForMs: Date.now() - servedSince,
        idleSwitchMs: options.idleSwitchMs,
        fairnessMs: options.fairnessMs,
      });
      if (choice && choice.name !== current) {
        loading = choice.name;
        await load(choice, current);
      }
    } catch (err) {
      if (abandoned) return;
      if (loading) {
        const failures = (failed.get(loading)?.failures ?? 0) + 1;
        failed.set(loading, { failures, until: Date.now() + loadFailureWaitMs(failures) });
      }
      logger.error('choosing or loading a model failed; trying again', { err, model: loading });
      // With no engine running, leased requests would only wait for one: leasing resumes once a model is loaded.
      if (engine.model) worker.resume();
    } finally {
      busy = false;
    }
  };

  return {
    /**
     * Loads the first model, `pinned` (WORKER_MODEL) or the registry's choice (waiting for the
     * registry to have one), then starts checking unless pinned. When `signal` aborts first (the worker is asked to stop), a load in progress is ended and start
     * returns without a model.
     */
    async start(pinned: string | undefined, signal?: AbortSignal) {
      // Loading weights takes minutes, and an empty registry waits for ever: neither may hold up a stop.
      const abandon = () => {
        abandoned = true;
        void engine.stop();
      };
      signal?.addEventListener('abort', abandon, { once: true });
      try {
        if (pinned) await load(pinnedModel(pinned), null);
        else {
          while (!engine.model && !abandoned) {
            await check();
            if (engine.model || abandoned) break;
            // A model that failed to start is tried again when its wait ends (check said why it
            // failed); a model added to the registry meanwhile is seen within the usual interval.
            const retryAt = failed.size ? Math.min(...[...failed.values()].map((f) => f.until)) : 0;
            if (retryAt > Date.now()) await sleep(Math.min(options.checkMs * 5, Math.max(options.checkMs, retryAt - Date.now())), signal);
            else {
              logger.warn('no enabled model in the registry yet; add one (models table) for this GPU to serve');
              await sleep(options.checkMs * 5, signal);
            }
          }
        }
      } catch (err) {
        if (!abandoned) throw err;
      } finally {
        signal?.removeEventListener('abort', abandon);
      }
      if (!pinned && !abandoned) timer = setInterval(() => void check(), options.checkMs);
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
