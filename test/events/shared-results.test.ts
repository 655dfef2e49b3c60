import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useSharedSubscriptionResults } from '../../gateway/graphql/shared-results.ts';
import { createSink, type Sink } from '../../gateway/subscriptions/sink.ts';

/** A Yoga server with one subscription fed by the test, counting how often its fields are resolved. */
function server() {
  const sinks: Sink<{ n: number }>[] = [];
  let resolved = 0;
  let closed = 0;
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { ok: Boolean } type Tick { n: Int, double: Int } type Subscription { tick: Tick, other: Tick }',
      resolvers: {
        Tick: {
          n: (t: { n: number }) => {
            resolved += 1;
            return t.n;
          },
          double: (t: { n: number }) => t.n * 2,
        },
        Subscription: {
          tick: {
            subscribe: () => {
              const sink = createSink<{ n: number }>({ mode: 'queue', onClose: () => (closed += 1) });
              sinks.push(sink);
              return sink;
            },
            resolve: (t: unknown) => t,
          },
        },
      },
    }),
    plugins: [useSharedSubscriptionResults(['tick'])],
  });
  const subscribe = async (query: string) => {
    const res = await yoga.fetch('http://x/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query }),
    });
    return res.body!.getReader();
  };
  return { sinks, subscribe, resolved: () => resolved, closed: () => closed };
}

async function nextData(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<unknown> {
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended; got ${text}`);
    text += new TextDecoder().decode(value);
    const match = /data: (\{.*\})\n\n/.exec(text);
    if (match) return JSON.parse(match[1]!);
  }
}

describe('shared subscription results', () => {
  it('executes one event once for every subscriber asking the same, and apart for a different selection', async () => {
    const s = server();
    const same = [await s.subscribe('subscription { tick { n } }'), await s.subscribe('subscription { tick { n } }')];
    const different = await s.subscribe('subscription { tick { n double } }');
    // Each stream subscribes when first read; start reading, then wait for the three sinks.
    const reads = [...same, different].map((r) => nextData(r));
    while (s.sinks.length < 3) await new Promise((r) => setTimeout(r, 5));
    const event = { n: 7 };
    for (const sink of s.sinks) sink.push(event);
    const [a, b, c] = await Promise.all(reads);
    expect(a).toEqual({ data: { tick: { n: 7 } } });
    expect(b).toEqual({ data: { tick: { n: 7 } } });
    expect(c).toEqual({ data: { tick: { n: 7, double: 14 } } });
    expect(s.resolved()).toBe(2);
  });

  it('lets the source clean up when a subscriber leaves', async () => {
    const s = server();
    const reader = await s.subscribe('subscription { tick { n } }');
    const read = nextData(reader);
    while (s.sinks.length < 1) await new Promise((r) => setTimeout(r, 5));
    s.sinks[0]!.push({ n: 1 });
    await read;
    await reader.cancel();
    for (let i = 0; i < 100 && s.closed() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.closed()).toBe(1);
  });
});
