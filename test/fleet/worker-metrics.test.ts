import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../core/metrics/index.ts';
import { createWorkerMetrics } from '../../fleet/worker/metrics.ts';

describe("a worker's metrics", () => {
  it("records a worker's results, tokens and engine errors under the documented names", async () => {
    const registry = createRegistry();
    const worker = createWorkerMetrics(registry, { workerId: 'w1', host: 'h', gpu: '0', runtime: 'bun' });
    worker.setModel('llama');
    worker.recordResult({ model: 'llama', ok: true, promptTokens: 10, completionTokens: 100 });
    worker.recordResult({ model: 'llama', ok: false });
    worker.recordEngineError('http_429');
    worker.inFlight.set({}, 4);
    const text = await registry.render();
    expect(text).toContain('vbs_worker_info{worker_id="w1",host="h",gpu="0",runtime="bun",model="llama"} 1');
    expect(text).toContain('vbs_worker_requests_completed_total{model="llama"} 1');
    expect(text).toContain('vbs_worker_requests_failed_total{model="llama"} 1');
    expect(text).toContain('vbs_worker_completion_tokens_total{model="llama"} 100');
    expect(text).toContain('vbs_worker_engine_errors_total{kind="http_429"} 1');
    expect(text).toContain('vbs_worker_in_flight 4');
    expect(text).toMatch(/vbs_worker_tokens_per_second [1-9]/);
  });
});
