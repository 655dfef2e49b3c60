import type { Logger } from '../logger.ts';
import type { EventBus } from './bus.ts';
import { createMemoryBus } from './memory-bus.ts';
import { createRedisBus } from './redis-bus.ts';

/** Options for {@link createEventBus}. */
export interface EventBusOptions {
  /** REDIS_URL: Redis pub/sub when set, the in-process bus when not. */
  redisUrl?: string | undefined;
  /** The Redis channel prefix (default `vbs:`); give each deployment or test run its own. */
  prefix?: string | undefined;
  logger?: Logger | undefined;
}

/** Opens the event bus the configuration asks for: Redis pub/sub across processes, or in-process. */
export async function createEventBus({ redisUrl, prefix, logger }: EventBusOptions = {}): Promise<EventBus> {
  if (!redisUrl) return createMemoryBus();
  return createRedisBus({ url: redisUrl, ...(prefix ? { prefix } : {}), ...(logger ? { logger } : {}) });
}
