import type { EventBus, Listener } from './bus.ts';

/** The in-process event bus, for embedded mode and for a single gateway. */
export function createMemoryBus(): EventBus {
  const topics = new Map<string, Set<Listener>>();
  return {
    async publish(topic, event) {
      const listeners = topics.get(topic);
      if (!listeners) return;
      // Deliver after the publisher's turn, as a network bus would, so that a listener
      // can never run inside the publisher's transaction or loop.
      for (const listener of [...listeners]) queueMicrotask(() => listener(event));
    },
    async subscribe(topic, listener) {
      let listeners = topics.get(topic);
      if (!listeners) topics.set(topic, (listeners = new Set()));
      listeners.add(listener);
      return async () => {
        listeners.delete(listener);
        if (listeners.size === 0) topics.delete(topic);
      };
    },
    async close() {
      topics.clear();
    },
  };
}
