import type { Logger } from '../../core/logger.ts';
import type { WorkerConfig } from '../config.ts';
import { createEngineClient, type EngineClient } from '../engine/client.ts';
import { createEngineGate, type EngineGate } from '../engine/gate.ts';
import { createWatchdog } from '../engine/watchdog.ts';
import { createCapacity, type Capacity } from './capacity.ts';

/** What a worker talks to its engine with. */
export interface EngineConnection {
  url: string;
  client: EngineClient;
  /** Open while the engine answers /health; requests wait at it while it does not. */
  gate: EngineGate;
  /** How many requests the worker keeps at the engine. */
  capacity: Capacity;
  /** Stops the gate's probes and the stall watchdog. */
  close(): void;
}

/** The engine's client, gate and capacity, set up from the worker's config: its own engine's port, or ENGINE_URL. */
export function connectToEngine(config: WorkerConfig, logger: Logger): EngineConnection {
  const url = config.ENGINE_URL ?? `http://127.0.0.1:${config.ENGINE_PORT}`;
  const watchdog = createWatchdog();
  const client = createEngineClient({
    baseUrl: url,
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
      logger[up ? 'info' : 'warn'](up ? 'engine reachable again' : 'engine unreachable; requests wait for /health', { engineUrl: url }),
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
  return {
    url,
    client,
    gate,
    capacity,
    close() {
      gate.close();
      watchdog.close();
    },
  };
}
