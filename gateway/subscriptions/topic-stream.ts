import type { BusEvent, EventBus } from '../../core/events/index.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { createSink } from './sink.ts';

/** Options for {@link streamTopic}. */
export interface TopicStreamOptions<T> {
  bus: EventBus;
  topic: string;
  /** The subscription's name, for the subscribers gauge. */
  subscription: string;
  /** Turns a bus event into what the subscriber receives; null skips it. */
  map: (event: BusEvent) => T | null;
  metrics?: GatewayMetrics | undefined;
}

/**
 * Streams the events of one bus topic to one subscriber, in order. A subscriber too slow
 * to keep up loses the oldest events beyond a thousand rather than growing without bound.
 */
export async function streamTopic<T>({ bus, topic, subscription, map, metrics }: TopicStreamOptions<T>): Promise<AsyncIterableIterator<T>> {
  let stop: (() => Promise<void>) | null = null;
  const sink = createSink<T>({
    mode: 'queue',
    onClose: () => {
      metrics?.subscriptions.dec({ subscription });
      void stop?.();
    },
  });
  stop = await bus.subscribe(topic, (event) => {
    const value = map(event);
    if (value === null) return;
    sink.push(value);
    metrics?.eventsDelivered.inc({ subscription });
  });
  metrics?.subscriptions.inc({ subscription });
  return sink;
}
