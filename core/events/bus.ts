import type { BusEvent } from './types.ts';

/** Receives the events of a topic. */
export type Listener = (event: BusEvent) => void;

/**
 * Publish/subscribe between the parts: in-process in embedded mode, Redis pub/sub when
 * REDIS_URL is set so that every gateway replica sees events from every worker.
 * Delivery is best effort (at most once): subscribers that must not miss the final
 * state read it from Postgres when they subscribe.
 */
export interface EventBus {
  publish(topic: string, event: BusEvent): Promise<void>;
  /** Resolves once the subscription is active, to a function that ends it. */
  subscribe(topic: string, listener: Listener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
