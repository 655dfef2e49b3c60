export * from './types.ts';
export type { EventBus, Listener } from './bus.ts';
export { createMemoryBus } from './memory-bus.ts';
export { createRedisBus, DEFAULT_CHANNEL_PREFIX, type RedisBusOptions } from './redis-bus.ts';
export { createEventBus, type EventBusOptions } from './create-event-bus.ts';
export * from './publish.ts';
