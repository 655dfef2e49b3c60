import { describe, expect, it } from 'vitest';
import { requests } from '../../schema/index.ts';
import { METRIC_MODELS, OTHER_MODELS, readGatewayMetrics } from '../../schema/sql/read-gateway-metrics.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

describe.each(DRIVERS)('the gateway metrics read on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('names the busiest models and sums the rest under one label, whatever models files ask for', async () => {
    const many = Array.from({ length: METRIC_MODELS + 20 }, (_, i) => `user-model-${String(i).padStart(3, '0')}`);
    await database().db.insert(requests).values([
      ...Array.from({ length: 5 }, (_, i) => ({ batchId: 'b', line: i + 1, customId: `busy-${i}`, model: 'busy-model', body: '{}', status: i < 3 ? 'queued' : 'leased' })),
      ...many.map((model, i) => ({ batchId: 'b', line: 100 + i, customId: `one-${i}`, model, body: '{}' })),
    ]);
    const rows = (await readGatewayMetrics(database().db)).filter((r) => r.section === 'requests');
    const keys = new Set(rows.map((r) => r.key));
    expect(keys.size).toBe(METRIC_MODELS + 1);
    expect(rows).toContainEqual({ section: 'requests', key: 'busy-model', status: 'queued', value: 3 });
    expect(rows).toContainEqual({ section: 'requests', key: 'busy-model', status: 'leased', value: 2 });
    // The busiest model, then the others by name: the last 21 of them are summed.
    expect(rows).toContainEqual({ section: 'requests', key: OTHER_MODELS, status: 'queued', value: 21 });
    expect(rows.reduce((sum, r) => sum + r.value, 0)).toBe(5 + many.length);
  });
});
