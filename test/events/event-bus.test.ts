import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventBus, createMemoryBus, createRedisBus, type EventBus } from '../../core/events/index.ts';
import { TEST_REDIS_URL } from '../config.ts';
import { collect, progressEvent, uniquePrefix } from './helpers.ts';

/** Two ends of a bus: on Redis, two connections as two processes would hold; in memory, one bus. */
interface Pair {
  a: EventBus;
  b: EventBus;
}

const opened: EventBus[] = [];
afterAll(async () => {
  await Promise.all(opened.map((bus) => bus.close()));
});

async function memoryPair(): Promise<Pair> {
  const bus = createMemoryBus();
  opened.push(bus);
  return { a: bus, b: bus };
}

async function redisPair(): Promise<Pair> {
  const prefix = uniquePrefix();
  const a = await createRedisBus({ url: TEST_REDIS_URL, prefix });
  const b = await createRedisBus({ url: TEST_REDIS_URL, prefix });
  opened.push(a, b);
  return { a, b };
}

describe.each([
  ['memory', memoryPair],
  ['redis', redisPair],
] as const)('the %s event bus', (_kind, pair) => {
  it('delivers a published event to every subscriber of its topic', async () => {
    const { a, b } = await pair();
    const one = await collect(b, 'batch:one');
    const two = await collect(b, 'batch:one');
    await a.publish('batch:one', progressEvent('one', { completed: 3 }));
    expect((await one.waitFor(1))[0]).toMatchObject({ type: 'batch.progress', batchId: 'one', completed: 3 });
    expect((await two.waitFor(1))[0]).toMatchObject({ completed: 3 });
  });

  it('does not deliver events of other topics', async () => {
    const { a, b } = await pair();
    const other = await collect(b, 'batch:other');
    const mine = await collect(b, 'batch:mine');
    await a.publish('batch:other', progressEvent('other'));
    await a.publish('batch:mine', progressEvent('mine'));
    await mine.waitFor(1);
    await other.waitFor(1);
    expect(mine.events.map((e) => (e as { batchId: string }).batchId)).toEqual(['mine']);
  });

  it('keeps the order of events published by one publisher', async () => {
    const { a, b } = await pair();
    const got = await collect(b, 'batch:order');
    for (let i = 1; i <= 50; i++) await a.publish('batch:order', progressEvent('order', { completed: i }));
    const events = await got.waitFor(50);
    expect(events.map((e) => (e as { completed: number }).completed)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('stops delivering to a listener once it unsubscribes, and keeps delivering to the others', async () => {
    const { a, b } = await pair();
    const leaving = await collect(b, 'batch:leave');
    const staying = await collect(b, 'batch:leave');
    await leaving.stop();
    await a.publish('batch:leave', progressEvent('leave', { completed: 1 }));
    await staying.waitFor(1);
    // A marker on the same topic, published after, proves the first event had its chance to arrive.
    await a.publish('batch:leave', progressEvent('leave', { completed: 2 }));
    await staying.waitFor(2);
    expect(leaving.events).toEqual([]);
  });

  it('delivers to a topic subscribed again after its last listener left', async () => {
    const { a, b } = await pair();
    const first = await collect(b, 'batch:again');
    await first.stop();
    const second = await collect(b, 'batch:again');
    await a.publish('batch:again', progressEvent('again'));
    expect(await second.waitFor(1)).toHaveLength(1);
  });
});

describe('the redis event bus', () => {
  const admin = createClient({ url: TEST_REDIS_URL });
  const ready = admin.connect();
  afterAll(() => admin.close());
  const subscribers = async (channel: string) => {
    await ready;
    const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number];
    return Number(reply[1]);
  };

  it('holds one redis subscription per topic, whatever the number of listeners, and drops it with the last', async () => {
    const prefix = uniquePrefix();
    const bus = await createRedisBus({ url: TEST_REDIS_URL, prefix });
    opened.push(bus);
    const stops = await Promise.all(Array.from({ length: 100 }, () => bus.subscribe('batch:many', () => {})));
    expect(await subscribers(`${prefix}batch:many`)).toBe(1);
    await Promise.all(stops.slice(1).map((stop) => stop()));
    expect(await subscribers(`${prefix}batch:many`)).toBe(1);
    await stops[0]!();
    expect(await subscribers(`${prefix}batch:many`)).toBe(0);
  });

  it('subscribes and unsubscribes correctly when both race on one topic', async () => {
    const prefix = uniquePrefix();
    const bus = await createRedisBus({ url: TEST_REDIS_URL, prefix });
    opened.push(bus);
    for (let round = 0; round < 20; round++) {
      const stop = await bus.subscribe('batch:race', () => {});
      const [, again] = await Promise.all([stop(), bus.subscribe('batch:race', () => {})]);
      expect(await subscribers(`${prefix}batch:race`)).toBe(1);
      await again();
    }
    expect(await subscribers(`${prefix}batch:race`)).toBe(0);
  });

  it('does not cross between prefixes on one redis', async () => {
    const a = await createRedisBus({ url: TEST_REDIS_URL, prefix: uniquePrefix() });
    const b = await createRedisBus({ url: TEST_REDIS_URL, prefix: uniquePrefix() });
    opened.push(a, b);
    const onA = await collect(a, 'workers');
    const onB = await collect(b, 'workers');
    await b.publish('workers', progressEvent('x'));
    await onB.waitFor(1);
    await a.publish('workers', progressEvent('y'));
    await onA.waitFor(1);
    expect(onA.events.map((e) => (e as { batchId: string }).batchId)).toEqual(['y']);
  });

  it('delivers again after redis drops its subscriber connection', async () => {
    const prefix = uniquePrefix();
    const publisher = await createRedisBus({ url: TEST_REDIS_URL, prefix });
    const bus = await createRedisBus({ url: TEST_REDIS_URL, prefix });
    opened.push(publisher, bus);
    const got = await collect(bus, 'batch:reconnect');
    await ready;
    const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
    const line = list.split('\n').find((l) => l.includes(`name=${prefix}events-sub`));
    const id = line?.match(/\bid=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await admin.sendCommand(['CLIENT', 'KILL', 'ID', id!]);
    // The bus re-subscribes on its own; publish until an event gets through.
    for (let i = 0; got.events.length === 0 && i < 100; i++) {
      await publisher.publish('batch:reconnect', progressEvent('reconnect', { completed: i }));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(got.events.length).toBeGreaterThan(0);
  });

  it('is what createEventBus opens when a redis url is given, and the memory bus when not', async () => {
    const prefix = uniquePrefix();
    const redisBus = await createEventBus({ redisUrl: TEST_REDIS_URL, prefix });
    opened.push(redisBus);
    await redisBus.subscribe('workers', () => {});
    expect(await subscribers(`${prefix}workers`)).toBe(1);
    const memory = await createEventBus({});
    opened.push(memory);
    const got = await collect(memory, 'workers');
    await memory.publish('workers', progressEvent('m'));
    expect(await got.waitFor(1)).toHaveLength(1);
  });
});
