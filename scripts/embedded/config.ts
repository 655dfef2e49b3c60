import { ConfigError, withEmbeddedDestinations } from '../../core/env.ts';
import { loadWorkerConfig, type WorkerConfig } from '../../fleet/config.ts';
import { parseSimArgs, SIM_USAGE } from '../../fleet/sim/index.ts';
import { loadGatewayConfig, type GatewayConfig } from '../../gateway/config.ts';

/** The simulator of embedded mode: both fixture models, a small GPU; SIM_ARGS takes `npm run sim` flags. */
const SIM_DEFAULT_ARGS = ['--model', 'sim-model,sim-embed', '--port', '0'];

// Stands in for the simulator's address while the worker's variables are checked; the
// real one is known once the simulator listens.
const SIMULATOR_PLACEHOLDER = 'http://127.0.0.1:1';

/** The configuration of `npm start`'s one process: the gateway's, the worker's, and the simulator's when the engine is simulated. */
export interface EmbeddedConfig {
  gateway: GatewayConfig;
  worker: WorkerConfig;
  /** The simulator's options; null with ENGINE_URL, ENGINE or ENGINE_CMD (a real engine). */
  simulator: ReturnType<typeof parseSimArgs> | null;
  /** What manifests' `${NAME}` references expand from. */
  manifestEnv: Record<string, string | undefined>;
}

/** Reads the whole environment once; a bad value anywhere gives one error naming every bad variable. */
export function loadEmbeddedConfig(env: Record<string, string | undefined> = process.env): EmbeddedConfig {
  const problems = new Map<string, string>();
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const p of error.problems) problems.set(p.variable, p.expected);
      return undefined;
    }
  };
  const simulated = !env.ENGINE_URL && !env.ENGINE_CMD && !env.ENGINE;
  const withDefaults = withEmbeddedDestinations(env);
  const gateway = attempt(() => loadGatewayConfig(withDefaults));
  const worker = attempt(() => loadWorkerConfig(simulated ? { ...withDefaults, ENGINE_URL: SIMULATOR_PLACEHOLDER } : withDefaults));
  const simulator = simulated
    ? attempt(() => {
        try {
          return parseSimArgs([...SIM_DEFAULT_ARGS, ...(env.SIM_ARGS ?? '').split(/\s+/).filter(Boolean)]);
        } catch (error) {
          throw new ConfigError([{ variable: 'SIM_ARGS', expected: `${(error as Error).message}\n${SIM_USAGE}` }]);
        }
      })
    : null;
  if (problems.size || !gateway || !worker || simulator === undefined) {
    throw new ConfigError([...problems].map(([variable, expected]) => ({ variable, expected })));
  }
  return { gateway, worker, simulator, manifestEnv: env };
}
