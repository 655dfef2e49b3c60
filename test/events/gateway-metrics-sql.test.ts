import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { METRIC_MODELS, OTHER_MODELS, readGatewayMetrics, type GatewayMetricRow } from '../../schema/sql/read-gateway-metrics.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';

describe.each(DRIVERS)('the gateway metrics read on %s', (driver) => {
  const database = useDriverDatabase(driver);

  // The read covers every model in the database: this test has one of its own, which no other test adds to.
  describe('on a database of its own', () => {
    const own = useDriverDatabase(driver);

    it('names the busiest models and sums the rest under one label, whatever models files ask for', async () => {
      const many = Array.from({ length: METRIC_MODELS + 20 }, (_, i) => `user-model-${String(i).padStart(3, '0')}`);
      // busy-model: 3 lines without a result in an unleased range (one of its 4 answered), 2 in a
      // leased one, none in a finished one; then one queued line of each other model.
      await own().db.execute(sql`
        insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, lease_owner, lease_expires_at, finished_at)
        values ('b', 'busy-model', 'o', 1, 4, 4, 1, null, null, null),
               ('b', 'busy-model', 'o', 5, 6, 2, 0, 'w1', now() + interval '1 minute', null),
               ('b', 'busy-model', 'o', 7, 9, 3, 3, null, null, now())`);
      await own().db.execute(sql`
        insert into request_ranges (batch_id, model, owner, first_line, last_line, size)
        select 'b', m, 'o', 100 + i, 100 + i, 1 from unnest(${`{${many.join(',')}}`}::text[]) with ordinality as t(m, i)`);
      const rows = (await readGatewayMetrics(own().db)).filter((r) => r.section === 'requests');
      const keys = new Set(rows.map((r) => r.key));
      expect(keys.size).toBe(METRIC_MODELS + 1);
      expect(rows).toContainEqual({ section: 'requests', key: 'busy-model', status: 'queued', value: 3 });
      expect(rows).toContainEqual({ section: 'requests', key: 'busy-model', status: 'leased', value: 2 });
      // The busiest model, then the others by name: the last 21 of them are summed.
      expect(rows).toContainEqual({ section: 'requests', key: OTHER_MODELS, status: 'queued', value: 21 });
      expect(rows.reduce((sum, r) => sum + r.value, 0)).toBe(5 + many.length);
    });
  });

  it('counts finished requests and tokens on batch rows and on ranges, each once', async () => {
    const before = totals(await readGatewayMetrics(database().db));
    // A batch of the previous release counted on its row; a new one counts on its ranges.
    await database().db.execute(sql`
      insert into batches (id, owner, endpoint, completion_window, status, input_file_id, total, completed, failed, prompt_tokens, completion_tokens, expires_at)
      values ('old', 'o', '/v1/chat/completions', '24h', 'in_progress', 'file-x', 10, 4, 1, 40, 80, now() + interval '1 day')`);
    await database().db.execute(sql`
      insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, prompt_tokens, completion_tokens)
      values ('old', 'm', 'o', 6, 10, 5, 2, 1, 20, 30), ('new', 'm', 'o', 1, 3, 3, 3, 0, 6, 9)`);
    const after = totals(await readGatewayMetrics(database().db));
    expect({
      completed: after.completed! - before.completed!,
      failed: after.failed! - before.failed!,
      prompt_tokens: after.prompt_tokens! - before.prompt_tokens!,
      completion_tokens: after.completion_tokens! - before.completion_tokens!,
    }).toEqual({ completed: 9, failed: 2, prompt_tokens: 66, completion_tokens: 119 });
  });
});

const totals = (rows: GatewayMetricRow[]) =>
  Object.fromEntries(rows.filter((r) => r.section === 'totals').map((r) => [r.status, r.value])) as Record<string, number>;
