import { describe, expect, it } from 'vitest';
import { createMetricsEndpoint, createRateWindow, createRegistry } from '../../core/metrics/index.ts';

describe('the metrics registry', () => {
  it('renders counters, gauges and histograms in the prometheus text format', async () => {
    const registry = createRegistry();
    const done = registry.counter({ name: 'vbs_done_total', help: 'Things done.', labelNames: ['model'] });
    const depth = registry.gauge({ name: 'vbs_depth', help: 'Queue depth.' });
    const latency = registry.histogram({ name: 'vbs_latency_seconds', help: 'Latency.', buckets: [0.1, 1] });
    done.inc({ model: 'a' });
    done.inc({ model: 'a' }, 2);
    done.inc({ model: 'b' });
    depth.set({}, 7);
    latency.observe({}, 0.05);
    latency.observe({}, 0.5);
    latency.observe({}, 5);
    expect(await registry.render()).toBe(
      [
        '# HELP vbs_done_total Things done.',
        '# TYPE vbs_done_total counter',
        'vbs_done_total{model="a"} 3',
        'vbs_done_total{model="b"} 1',
        '# HELP vbs_depth Queue depth.',
        '# TYPE vbs_depth gauge',
        'vbs_depth 7',
        '# HELP vbs_latency_seconds Latency.',
        '# TYPE vbs_latency_seconds histogram',
        'vbs_latency_seconds_bucket{le="0.1"} 1',
        'vbs_latency_seconds_bucket{le="1"} 2',
        'vbs_latency_seconds_bucket{le="+Inf"} 3',
        'vbs_latency_seconds_sum 5.55',
        'vbs_latency_seconds_count 3',
        '',
      ].join('\n'),
    );
  });

  it('escapes quotes, backslashes and newlines in label values', async () => {
    const registry = createRegistry();
    registry.gauge({ name: 'vbs_g', help: 'G.', labelNames: ['model'] }).set({ model: 'a"b\\c\nd' }, 1);
    expect(await registry.render()).toContain('vbs_g{model="a\\"b\\\\c\\nd"} 1');
  });

  it('refuses a metric registered twice, bad names, and counters going down', () => {
    const registry = createRegistry();
    registry.counter({ name: 'vbs_x_total', help: 'X.' });
    expect(() => registry.counter({ name: 'vbs_x_total', help: 'X.' })).toThrow(/twice/);
    expect(() => registry.gauge({ name: 'vbs-bad', help: 'B.' })).toThrow(/not a valid metric name/);
    expect(() => registry.gauge({ name: 'vbs_ok', help: 'B.', labelNames: ['le'] })).toThrow(/not a valid label name/);
    expect(() => registry.counter({ name: 'vbs_y_total', help: 'Y.' }).inc({}, -1)).toThrow(/only go up/);
  });

  it('runs collectors before rendering, and still renders when one fails', async () => {
    const errors: unknown[] = [];
    const registry = createRegistry({ onCollectError: (err) => errors.push(err) });
    const depth = registry.gauge({ name: 'vbs_queued', help: 'Q.', labelNames: ['model'] });
    let n = 0;
    registry.collect(() => {
      depth.reset();
      depth.set({ model: 'm' }, ++n);
    });
    registry.collect(() => Promise.reject(new Error('database away')));
    expect(await registry.render()).toContain('vbs_queued{model="m"} 1');
    expect(await registry.render()).toContain('vbs_queued{model="m"} 2');
    expect(errors).toHaveLength(2);
  });

  it('serves the registry as text/plain version 0.0.4 from a fetch handler', async () => {
    const registry = createRegistry();
    registry.counter({ name: 'vbs_served_total', help: 'S.' }).inc();
    const res = await createMetricsEndpoint(registry)(new Request('http://x/metrics'));
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('vbs_served_total 1');
  });
});

describe('the rate window', () => {
  it('divides what was added in the window by the time observed', () => {
    const rate = createRateWindow({ windowMs: 10_000, bucketMs: 1_000 });
    const t0 = 1_000_000;
    for (let s = 0; s < 5; s++) rate.add(100, t0 + s * 1000);
    expect(rate.rate(t0 + 5000)).toBeCloseTo(100, 5);
  });

  it('forgets what fell out of the window', () => {
    const rate = createRateWindow({ windowMs: 10_000, bucketMs: 1_000 });
    const t0 = 1_000_000;
    rate.add(1000, t0);
    rate.add(50, t0 + 20_000);
    // The window is the current half-second of its bucket and the nine whole buckets before it.
    expect(rate.rate(t0 + 20_500)).toBeCloseTo(50 / 9.5, 5);
    expect(rate.rate(t0 + 60_000)).toBe(0);
  });
});
