import { ConfigError } from '../../core/env.ts';
import type { Database } from '../../schema/index.ts';
import type { Logger } from '../../core/logger.ts';
import { loadHandlers, splitManifestList } from '../../handlers/index.ts';
import { ManifestError, type HandlerRegistry } from '../../handlers/sdk/index.ts';
import { createHandlerRunner, type HandlerRunnerOptions } from './runner.ts';

/** Loads the built-in manifest and HANDLER_MANIFESTS; a bad manifest is a ConfigError naming the file and the problem. */
export async function loadFleetHandlers({
  HANDLER_MANIFESTS,
  manifestEnv,
}: {
  HANDLER_MANIFESTS?: string | undefined;
  manifestEnv?: Record<string, string | undefined>;
}): Promise<HandlerRegistry> {
  try {
    return await loadHandlers({ manifests: splitManifestList(HANDLER_MANIFESTS), env: manifestEnv ?? {} });
  } catch (error) {
    if (error instanceof ManifestError) throw new ConfigError([{ variable: 'HANDLER_MANIFESTS', expected: error.message }]);
    throw error;
  }
}

/**
 * The handler runner as a background loop of a fleet process (`startWorkerProcess`'s `loops`):
 * started with the worker, stopped (letting running handlers finish) before it exits.
 */
export function handlerRunnerLoop(
  registry: HandlerRegistry,
  options: Partial<Omit<HandlerRunnerOptions, 'database' | 'registry' | 'logger'>> & Pick<HandlerRunnerOptions, 'destinations'>,
) {
  return ({ database, logger }: { database: Database; logger: Logger }) => {
    const runner = createHandlerRunner({ ...options, database, registry, logger });
    runner.start();
    return { stop: () => runner.stop() };
  };
}
