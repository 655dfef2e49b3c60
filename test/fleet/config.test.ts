import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../../fleet/config.ts';

describe('worker configuration', () => {
  it('refuses a worker configuration with neither or both of ENGINE_URL and ENGINE_CMD', () => {
    expect(() => loadWorkerConfig({})).toThrow('ENGINE_URL: set exactly one of ENGINE_URL');
    expect(() => loadWorkerConfig({ ENGINE_URL: 'http://a', ENGINE_CMD: 'vllm serve {model}' })).toThrow('set exactly one');
    expect(loadWorkerConfig({ ENGINE_URL: 'http://a:8000', WORKER_GPU: '3' })).toMatchObject({
      ENGINE_URL: 'http://a:8000',
      WORKER_GPU: '3',
      LEASE_TTL_MS: 6000,
    });
  });
});
