import { createClient } from 'redis';
import type { Logger } from '../logger.ts';
import type { EventBus, Listener } from './bus.ts';
import type { BusEvent } from './types.ts';

/** Options for {@link createRedisBus}. */
export interface RedisBusOptions {
  url: string;
  /** Prepended to every topic to make the Redis channel, so that deployments (and test runs) sharing a Redis do not cross. */
  prefix?: string;
  logger?: Logger;
}

/** The default channel prefix. */
export const DEFAULT_CHANNEL_PREFIX = 'vbs:';

interface Topic {
  listeners: Set<Listener>;
  /** The SUBSCRIBE or UNSUBSCRIBE in flight for the channel; operations on one channel run in order. */
  pending: Promise<void>;
  subscribed: boolean;
}

/**
 * The event bus over Redis pub/sub: one connection publishes, one more per process
 * carries every subscription. A channel is SUBSCRIBEd when its first listener arrives and
 * UNSUBSCRIBEd when its last one leaves, and each message is parsed once however many
 * listeners it has (a thousand subscribers of one batch cost one channel and one parse).
 * node-redis reconnects by itself and re-subscribes every channel; what is published while
 * Redis is away is lost, as the bus promises nothing more than best effort.
 */
export async function createRedisBus({ url, prefix = DEFAULT_CHANNEL_PREFIX, logger }: RedisBusOptions): Promise<EventBus> {
  // Publishing must never stall a worker's loop while Redis is away: without the offline
  // queue a PUBLISH fails at once, and a lost progress event is repaired by the next one.
  // Named connections (CLIENT LIST) tell an operator, and a test, which process holds them.
  const clientName = `${prefix.replace(/[^\w:.-]/g, '_')}events`;
  const publisher = createClient({ url, name: `${clientName}-pub`, disableOfflineQueue: true });
  const subscriber = createClient({ url, name: `${clientName}-sub` });
  let lastError = '';
  const onError = (role: string) => (err: Error) => {
    // node-redis emits the same error on every reconnect attempt; say it once.
    if (err.message === lastError) return;
    lastError = err.message;
    logger?.warn('event bus: redis connection error', { role, err });
  };
  publisher.on('error', onError('publisher'));
  subscriber.on('error', onError('subscriber'));
  subscriber.on('ready', () => {
    if (lastError) logger?.info('event bus: redis connection restored', {});
    lastError = '';
  });
  await Promise.all([publisher.connect(), subscriber.connect()]);

  const topics = new Map<string, Topic>();
  let closed = false;

  const deliver = (message: string, channel: string) => {
    const topic = topics.get(channel.slice(prefix.length));
    if (!topic || topic.listeners.size === 0) return;
    let event: BusEvent;
    try {
      event = JSON.parse(message) as BusEvent;
    } catch {
      logger?.warn('event bus: dropped a message that is not JSON', { channel });
      return;
    }
    for (const listener of topic.listeners) {
      try {
        listener(event);
      } catch (err) {
        logger?.error('event bus: a listener threw', { channel, err });
      }
    }
  };

  /** Brings the channel's Redis subscription in line with its listeners, after whatever is in flight. */
  const sync = (name: string, topic: Topic) => {
    // A failed step must not wedge the channel: the next call tries again.
    topic.pending = topic.pending
      .catch(() => {})
      .then(async () => {
        const wanted = topic.listeners.size > 0 && !closed;
        if (wanted === topic.subscribed) return;
        if (wanted) await subscriber.subscribe(prefix + name, deliver);
        else await subscriber.unsubscribe(prefix + name, deliver);
        topic.subscribed = wanted;
        if (!wanted && topics.get(name) === topic && topic.listeners.size === 0) topics.delete(name);
      });
    return topic.pending;
  };

  return {
    async publish(topic, event) {
      if (closed) return;
      try {
        await publisher.publish(prefix + topic, JSON.stringify(event));
      } catch (err) {
        logger?.warn('event bus: publish failed; the event is lost', { topic, err });
      }
    },
    async subscribe(name, listener) {
      if (closed) throw new Error('event bus: subscribe after close');
      let topic = topics.get(name);
      if (!topic) topics.set(name, (topic = { listeners: new Set(), pending: Promise.resolve(), subscribed: false }));
      // A distinct function per call, so the same listener subscribed twice is removed once per call.
      const entry: Listener = (event) => listener(event);
      topic.listeners.add(entry);
      const current = topic;
      try {
        await sync(name, current);
      } catch (err) {
        current.listeners.delete(entry);
        throw err;
      }
      return async () => {
        if (!current.listeners.delete(entry) || closed) return;
        await sync(name, current).catch((err) => logger?.warn('event bus: unsubscribe failed', { topic: name, err }));
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      topics.clear();
      await Promise.allSettled([publisher.close(), subscriber.close()]);
    },
  };
}
