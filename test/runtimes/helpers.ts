import type OpenAI from 'openai';

/** A batch input file of `count` chat requests for `sim-model`, custom_ids `req-1` ... `req-<count>`. */
export function chatLines(count: number): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim-model', messages: [{ role: 'user', content: `question ${i + 1}` }] },
    }),
  )
    .map((line) => `${line}\n`)
    .join('');
}

/** Posts a GraphQL operation with a bearer key and returns the parsed response body. */
export async function graphql(url: string, key: string, query: string, variables: Record<string, unknown> = {}): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** Polls a batch through the OpenAI SDK until it has the status; throws with the last seen batch when time runs out. */
export async function waitForStatus(client: OpenAI, batchId: string, status: string, timeoutMs = 30_000): Promise<OpenAI.Batch> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await client.batches.retrieve(batchId);
    if (batch.status === status) return batch;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} did not reach ${status}: ${JSON.stringify(batch)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
