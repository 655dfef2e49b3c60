import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { useApi } from './harness.ts';

const KEY = 'key-budget';

const chatFile = Array.from({ length: 3 }, (_, i) =>
  JSON.stringify({
    custom_id: `req-${i + 1}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'budget-model', messages: [{ role: 'user', content: `question ${i + 1}` }] },
  }),
).join('\n');

interface BatchJson {
  id: string;
  status: string;
  max_failed_requests: number | null;
  max_failure_ratio: number | null;
  min_requests_for_ratio: number | null;
  budget_exceeded_at: number | null;
}

describe('creating a batch with an error budget', () => {
  const api = useApi({ API_KEYS: KEY });
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

  async function upload(): Promise<string> {
    const file = await api()
      .client(KEY)
      .files.create({ file: await toFile(Buffer.from(chatFile), 'chat.jsonl'), purpose: 'batch' });
    return file.id;
  }

  const create = async (extra: Record<string, unknown>) =>
    api().app.request('/v1/batches', {
      method: 'POST',
      headers,
      body: JSON.stringify({ input_file_id: await upload(), endpoint: '/v1/chat/completions', completion_window: '24h', ...extra }),
    });

  const graphql = async (query: string, variables: Record<string, unknown>) =>
    (await (await api().app.request('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) })).json()) as {
      data?: { createBatch: Record<string, unknown> | null };
      errors?: { message: string; extensions?: { code?: string; param?: string } }[];
    };

  it('keeps the budget given in the REST body and shows it on the Batch object', async () => {
    const res = await create({ max_failed_requests: 5 });
    expect(res.status).toBe(200);
    const batch = (await res.json()) as BatchJson;
    expect(batch).toMatchObject({
      max_failed_requests: 5,
      max_failure_ratio: null,
      min_requests_for_ratio: null,
      budget_exceeded_at: null,
    });
    const ratio = (await (await create({ max_failure_ratio: 0.25, min_requests_for_ratio: 40 })).json()) as BatchJson;
    expect(ratio).toMatchObject({ max_failed_requests: null, max_failure_ratio: 0.25, min_requests_for_ratio: 40 });
    const defaults = (await (await create({ max_failure_ratio: 0 })).json()) as BatchJson;
    expect(defaults).toMatchObject({ max_failure_ratio: 0, min_requests_for_ratio: 100 });
    // Without one, nothing stops the batch (OpenAI's behaviour); the OpenAI SDK reads the object as ever.
    const none = (await (await create({})).json()) as BatchJson;
    expect(none).toMatchObject({ max_failed_requests: null, max_failure_ratio: null, min_requests_for_ratio: null });
    await api().validated();
    expect((await api().client(KEY).batches.retrieve(batch.id)).id).toBe(batch.id);
  });

  it('refuses a bad budget with a 400 naming the field and what is allowed', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ max_failed_requests: -1 }, 'max_failed_requests', /max_failed_requests must be a whole number from 0 to 2147483647.*; got -1/],
      [{ max_failed_requests: 2.5 }, 'max_failed_requests', /whole number/],
      [{ max_failed_requests: '5' }, 'max_failed_requests', /whole number.*; got "5"/],
      [{ max_failure_ratio: 1.5 }, 'max_failure_ratio', /max_failure_ratio must be a number from 0 to 1.*; got 1.5/],
      [{ max_failure_ratio: -0.1 }, 'max_failure_ratio', /from 0 to 1/],
      [{ max_failure_ratio: 'half' }, 'max_failure_ratio', /from 0 to 1.*; got "half"/],
      [
        { max_failure_ratio: 0.1, min_requests_for_ratio: 0 },
        'min_requests_for_ratio',
        /min_requests_for_ratio must be a whole number from 1/,
      ],
      [{ min_requests_for_ratio: 50 }, 'min_requests_for_ratio', /applies only with max_failure_ratio: give max_failure_ratio too/],
    ];
    for (const [body, param, message] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const { error } = (await res.json()) as { error: { type: string; param: string; message: string } };
      expect(error, JSON.stringify(body)).toMatchObject({ type: 'invalid_request_error', param });
      expect(error.message, JSON.stringify(body)).toMatch(message);
    }
  });

  it('takes the budget in GraphQL CreateBatchInput and shows it on Batch', async () => {
    const fields = 'id maxFailedRequests maxFailureRatio minRequestsForRatio budgetExceededAt';
    const created = await graphql(`mutation ($input: CreateBatchInput!) { createBatch(input: $input) { ${fields} } }`, {
      input: {
        inputFileId: await upload(),
        endpoint: '/v1/chat/completions',
        maxFailedRequests: 3,
        maxFailureRatio: 0.5,
        minRequestsForRatio: 10,
      },
    });
    expect(created.errors).toBeUndefined();
    expect(created.data?.createBatch).toMatchObject({
      maxFailedRequests: 3,
      maxFailureRatio: 0.5,
      minRequestsForRatio: 10,
      budgetExceededAt: null,
    });
    const refused = await graphql('mutation ($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: { inputFileId: await upload(), endpoint: '/v1/chat/completions', maxFailureRatio: 2 },
    });
    expect(refused.errors?.[0]?.message).toMatch(/max_failure_ratio must be a number from 0 to 1/);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'maxFailureRatio' });
    await api().validated();
  });
});
