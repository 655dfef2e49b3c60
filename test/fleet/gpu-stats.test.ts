import { describe, expect, it } from 'vitest';
import { createGpuStatsReader, parseNvidiaSmi } from '../../fleet/worker/gpu-stats.ts';

describe('reading GPU stats', () => {
  it('reads GPU memory, utilization and temperature from nvidia-smi, and nothing where it is absent', async () => {
    const text = '0, 40213, 81559, 97, 66\n1, 1024, 81559, 0, 31\n';
    expect(parseNvidiaSmi(text).get('1')).toEqual({ memoryUsedMiB: 1024, memoryTotalMiB: 81559, utilizationPercent: 0, temperatureC: 31 });
    expect(parseNvidiaSmi('0, [N/A], 1, [N/A], 30').get('0')).toBeUndefined();
    expect(await createGpuStatsReader('0', { run: async () => text, minIntervalMs: 0 })()).toEqual({
      memoryUsedMiB: 40213,
      memoryTotalMiB: 81559,
      utilizationPercent: 97,
      temperatureC: 66,
    });
    let calls = 0;
    const absent = createGpuStatsReader('0', { run: async () => (calls++, null), minIntervalMs: 0 });
    expect(await absent()).toBeNull();
    expect(await absent()).toBeNull();
    expect(calls).toBe(1);
  });
});
