import { describe, expect, it } from 'vitest';
import { createCapacity, type CapacityNote } from '../../fleet/worker/capacity.ts';
import { parseEngineLoad, type LoadReading } from '../../fleet/worker/engine-metrics.ts';
import { observedLoad } from '../../fleet/worker/observed-load.ts';

const load = (running: number, waiting: number, kvCacheUsage: number | null = null): LoadReading => ({
  kind: 'load',
  running,
  waiting,
  kvCacheUsage,
});

/** A capacity follower on a clock the test moves. */
function follower(options: { slots?: number | null; initial?: number; max?: number } = {}) {
  let at = 0;
  const notes: CapacityNote[] = [];
  const capacity = createCapacity({ initial: 256, max: 4096, ...options, onNote: (note) => notes.push(note), now: () => at });
  return { capacity, notes, advance: (ms: number) => (at += ms) };
}

describe("following the engine's capacity", () => {
  it('doubles while the engine runs everything, settles at running + margin once requests wait with the running count steady, then creeps', () => {
    const { capacity, notes, advance } = follower();
    expect(capacity.target).toBe(256);
    capacity.observe(load(256, 0), 256);
    expect(capacity.target).toBe(512);
    capacity.observe(load(300, 0), 300);
    expect(capacity.target).toBe(512);
    capacity.observe(load(512, 0), 512);
    expect(capacity.target).toBe(1024);
    for (let i = 0; i < 12; i++) {
      capacity.observe(load(1024, 900), 1924);
      advance(100);
    }
    expect(capacity.target).toBe(1024 + 31);
    expect(capacity.settled).toBe(true);
    expect(notes.map((n) => n.message)).toEqual([expect.stringContaining("learned the engine's capacity: 1024 running")]);
    capacity.observe(load(1055, 0), 1055);
    expect(capacity.target).toBe(1055 + 32);
  });

  // vLLM V1 admits waiting requests only while the step's token budget lasts
  // (vllm/v1/core/sched/scheduler.py, schedule()): on an H100's defaults, 8,192 tokens a step
  // against 1,024 sequences, requests wait during a ramp-up while `running` is far below the slots.
  it('does not take a ramp-up under the token budget for a full engine', () => {
    const { capacity, advance } = follower({ initial: 1024 });
    for (let running = 27; running < 1024; running += 27 * 3) {
      capacity.observe(load(running, 1024 - running), 1024);
      advance(100);
      expect(capacity.settled).toBe(false);
      expect(capacity.target).toBe(1024);
    }
    capacity.observe(load(1024, 0), 1024);
    expect(capacity.target).toBe(2048);
  });

  it('settles on a full KV cache at once: the engine is preempting, whatever its slots', () => {
    const { capacity, notes } = follower({ initial: 512 });
    capacity.observe(load(300, 212, 0.97), 512);
    expect(capacity.target).toBe(300 + 9);
    expect(notes[0]?.message).toContain('KV cache 97% full');
  });

  it('follows the running count up after settling', () => {
    const { capacity, advance } = follower({ initial: 128 });
    for (let i = 0; i < 12; i++) {
      capacity.observe(load(100, 28), 128);
      advance(100);
    }
    expect(capacity.target).toBe(108);
    capacity.observe(load(106, 2), 108);
    expect(capacity.target).toBe(106 + 8);
  });

  it('uses known slots as they are, and starts over for a new model', () => {
    const { capacity } = follower({ slots: null, initial: 64 });
    capacity.reset(100);
    expect(capacity.target).toBe(108);
    capacity.observe(load(10, 50), 108);
    expect(capacity.target).toBe(108);
    expect(createCapacity({ slots: 1024, initial: 64, max: 500 }).target).toBe(500);
  });

  it('says once that an engine shows no load gauges, and stops asking often', () => {
    const { capacity, notes } = follower({ initial: 256 });
    for (let i = 0; i < 5; i++) capacity.observe({ kind: 'no_gauges', status: 200 }, 10);
    expect(capacity.blind).toBe(true);
    expect(capacity.settled).toBe(true);
    expect(capacity.target).toBe(256);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.message).toMatch(/no vLLM load gauges.*maxConcurrency/);
    capacity.observe({ kind: 'unreachable' }, 10);
    expect(capacity.blind).toBe(true);
    capacity.observe(load(10, 0), 10);
    expect(capacity.blind).toBe(false);
  });
});

describe('an engine without load gauges', () => {
  const observed = (running: number, waiting: number): LoadReading => ({
    kind: 'load',
    running,
    waiting,
    kvCacheUsage: null,
    observed: true,
  });

  it("learns its capacity from the worker's own requests: answered ones run, long-unanswered ones wait", () => {
    const { capacity, notes, advance } = follower({ initial: 256 });
    capacity.observe(observed(8, 200), 256);
    expect(capacity.target).toBe(256);
    for (let i = 0; i < 3; i++) capacity.observe({ kind: 'no_gauges', status: 200 }, 256);
    for (let i = 0; i < 12; i++) {
      capacity.observe(observed(8, 240), 256);
      advance(100);
    }
    expect(capacity.target).toBe(8 + 8);
    expect(notes.map((n) => n.message)).toEqual([
      expect.stringContaining('no vLLM load gauges'),
      expect.stringContaining("learned the engine's capacity: 8 running"),
    ]);
  });

  it('grows while every request it sends is answered at once', () => {
    const { capacity } = follower({ initial: 16 });
    for (let i = 0; i < 3; i++) capacity.observe({ kind: 'no_gauges', status: 501 }, 16);
    capacity.observe(observed(16, 0), 16);
    expect(capacity.target).toBe(32);
  });

  it('counts answered requests as running and long-unanswered ones as waiting, but none waiting out a backoff or the gate', () => {
    const now = 10_000;
    const requests = [
      { startedAt: 1000, answering: true, atEngine: true },
      { startedAt: 8000, answering: false, atEngine: true },
      { startedAt: 9500, answering: false, atEngine: true },
      { startedAt: 1000, answering: false, atEngine: false },
      { startedAt: 1000, answering: true, atEngine: false },
    ];
    expect(observedLoad(requests, now)).toEqual({ kind: 'load', running: 1, waiting: 1, kvCacheUsage: null, observed: true });
  });

  it('is not fooled by its own view while the engine has gauges', () => {
    const { capacity, advance } = follower({ initial: 256 });
    for (let i = 0; i < 12; i++) {
      capacity.observe(observed(8, 240), 256);
      advance(100);
    }
    expect(capacity.target).toBe(256);
    expect(capacity.settled).toBe(false);
  });
});

describe("reading vLLM's /metrics", () => {
  it('sums the data-parallel ranks and takes the fullest cache', () => {
    const text = [
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
      'vllm:num_requests_running{engine="1",model_name="m"} 4.0',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 2.0',
      'vllm:num_requests_waiting_by_reason{engine="0",model_name="m",reason="capacity"} 2.0',
      'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25',
      'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5',
    ].join('\n');
    expect(parseEngineLoad(text)).toEqual({ kind: 'load', running: 7, waiting: 2, kvCacheUsage: 0.5, engine: 'vllm' });
    // --disable-log-stats: the process collectors answer, the scheduler's gauges do not.
    expect(parseEngineLoad('# HELP python_gc_objects_collected_total\npython_gc_objects_collected_total{generation="0"} 1.0\n')).toEqual({
      kind: 'no_gauges',
      status: 200,
    });
  });

  it("reads llama.cpp's and SGLang's gauges as well", () => {
    const llamacpp =
      '# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 8\n# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred 4\nllamacpp:tokens_predicted_total 3469\n';
    expect(parseEngineLoad(llamacpp)).toEqual({ kind: 'load', running: 8, waiting: 4, kvCacheUsage: null, engine: 'llamacpp' });
    const sglang =
      'sglang:num_running_reqs{model_name="m"} 30.0\nsglang:num_queue_reqs{model_name="m"} 2.0\nsglang:token_usage{model_name="m"} 0.4\n';
    expect(parseEngineLoad(sglang)).toEqual({ kind: 'load', running: 30, waiting: 2, kvCacheUsage: 0.4, engine: 'sglang' });
  });
});
