export * from './types.ts';
export type { EventBus, Listener } from './bus.ts';
export { createMemoryBus } from './memory-bus.ts';
