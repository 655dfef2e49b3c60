import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { useApi } from '../api/harness.ts';

interface Reply {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; param?: string } }[];
}

describe('the charts in the GraphQL API', () => {
  const api = useApi();
  const gql = async (query: string, variables: Record<string, unknown> = {}): Promise<Reply> =>
    (await (
      await api().app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as Reply;
  const db = () => api().db.database.db;

  it('answers fleetHistory per model with rates between samples, and refuses a window past the samples kept', async () => {
    await db().execute(sql`
      insert into fleet_samples (at, model, finished, failed, prompt_tokens, completion_tokens, queued)
      values (date_trunc('second', now()) - interval '20 seconds', 'gql-model', 10, 0, 100, 100, 7),
             (date_trunc('second', now()) - interval '10 seconds', 'gql-model', 30, 0, 300, 500, 4)`);
    const reply = await gql('{ fleetHistory { model points { requestsPerSecond tokensPerSecond completionTokensPerSecond queued } } }');
    expect(reply.data?.fleetHistory).toEqual([
      {
        model: 'gql-model',
        points: [
          { requestsPerSecond: null, tokensPerSecond: null, completionTokensPerSecond: null, queued: 7 },
          { requestsPerSecond: 2, tokensPerSecond: 60, completionTokensPerSecond: 40, queued: 4 },
        ],
      },
    ]);
    const refused = await gql('{ fleetHistory(minutes: 2000) { model } }');
    expect(refused.errors?.[0]).toMatchObject({
      message: 'minutes must be from 1 to 1440 (samples are kept for a day).',
      extensions: { code: 'BAD_REQUEST', param: 'minutes' },
    });
  });

  it("answers a batch's progress curve and a worker's KV-cache use", async () => {
    await db().execute(sql`
      insert into batches (id, owner, endpoint, completion_window, status, input_file_id, model, total, expires_at, in_progress_at)
      values ('batch_curve', 'local', '/v1/chat/completions', '24h', 'in_progress', 'file-x', 'm', 3, now() + interval '1 day', now() - interval '1 minute')`);
    await db().execute(sql`
      insert into results (batch_id, line, status, finished_at)
      values ('batch_curve', 1, 'succeeded', now() - interval '30 seconds'), ('batch_curve', 2, 'failed', now())`);
    const curve = await gql('{ batch(id: "batch_curve") { progressCurve(buckets: 2) { startedAt total points { finished failed } } } }');
    expect(curve.data?.batch.progressCurve).toMatchObject({
      startedAt: expect.any(String),
      total: 3,
      points: [
        { finished: 1, failed: 0 },
        { finished: 2, failed: 1 },
      ],
    });
    expect((await gql('{ batch(id: "batch_curve") { progressCurve(buckets: 1) { total } } }')).errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_REQUEST',
      param: 'buckets',
    });
    await db().execute(sql`
      insert into workers (id, host, gpu, pid, model, engine_url, status, capacity, kv_cache_usage)
      values ('w-kv', 'h', '0', 1, 'm', 'http://e', 'ready', 16, 0.375), ('w-none', 'h', '1', 2, 'm', 'http://e', 'ready', 16, null)`);
    const workers = await gql('{ workers { id kvCacheUsage } }');
    expect(workers.data?.workers).toEqual([
      { id: 'w-kv', kvCacheUsage: 0.375 },
      { id: 'w-none', kvCacheUsage: null },
    ]);
  });
});
