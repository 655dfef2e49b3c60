import type { Logger } from '../../core/logger.ts';
import { listModels, type Database } from '../../schema/index.ts';
import { sleep } from '../engine/backoff.ts';
import type { EngineClient } from '../engine/client.ts';
import type { Capacity } from './capacity.ts';

/** How often a worker given an ENGINE_URL re-reads the engine's models. */
const MODELS_REFRESH_MS = 30_000;
/** How long a worker waits between asking an engine that lists no models yet. */
const MODELS_RETRY_MS = 2000;

/** Options for {@link createEngineModels}. */
export interface EngineModelsOptions {
  client: Pick<EngineClient, 'models'>;
  database: Database;
  capacity: Capacity;
  logger: Logger;
  /** For the logs. */
  engineUrl: string;
  /** WORKER_MODEL: the one model to serve, whatever the engine lists. */
  pinned?: string | undefined;
}

/** The models of an engine the worker was given (ENGINE_URL), not one it owns. */
export interface EngineModels {
  /** The models to lease for: the engine's, or the pinned one. */
  current(): string[];
  /** Resolves once the engine lists a model (or the signal aborts), then takes the registry's capacity for it. */
  waitForModels(signal?: AbortSignal): Promise<void>;
  /** Follows the engine's models and the registry's capacity from now on. */
  start(): void;
  stop(): void;
}

/**
 * Creates {@link EngineModels}. The registry's maxConcurrency of the model an engine-URL worker
 * serves is that engine's --max-num-seqs: the capacity is then known, not learned (an owned
 * engine gets it from the model switcher).
 */
export function createEngineModels(options: EngineModelsOptions): EngineModels {
  const { client, database, capacity, logger, engineUrl, pinned } = options;
  let models: string[] = pinned ? [pinned] : [];
  let registrySlots: number | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;

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

  return {
    current: () => models,
    async waitForModels(signal) {
      while (models.length === 0 && !signal?.aborted) {
        try {
          models = await client.models();
        } catch (err) {
          if (/answered 40[13]\b/.test(String((err as Error).message))) {
            logger.error("the engine refuses this worker's API key (401/403 on /v1/models): set ENGINE_API_KEY to the engine's --api-key", {
              engineUrl,
            });
          } else logger.warn('waiting for the engine to list its models', { engineUrl, err });
          await sleep(MODELS_RETRY_MS, signal);
        }
      }
      await applyRegistrySlots().catch((err: unknown) =>
        logger.warn("reading the model registry failed; the engine's capacity is learned from its /metrics", { err }),
      );
    },
    start() {
      // An engine may be restarted with other models, and the registry's maxConcurrency may change: follow both.
      timer = setInterval(() => {
        if (!pinned) {
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
    },
    stop() {
      clearInterval(timer);
    },
  };
}
