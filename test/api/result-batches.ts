import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { answerLines } from '../helpers/results.ts';
import type { ApiHarness } from './harness.ts';

/** A GraphQL reply as the tests read it. */
export interface Reply {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; param?: string } }[];
}

/** Posts one GraphQL operation to the in-process gateway, with the API key when given. */
export async function gql(
  api: Pick<ApiHarness, 'app'>,
  query: string,
  variables: Record<string, unknown> = {},
  key?: string,
): Promise<Reply> {
  const res = await api.app.request('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Reply;
}

/** The chat answer body the tests give a line. */
export const chatAnswer = (text: string) =>
  JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text } }] });

/**
 * A chat batch created through GraphQL (one line per prompt, custom_ids c1, c2, ...), then
 * answered as a worker would: each line listed in `answers` gets that answer (succeeded); a
 * line in `failed` fails; the others stay pending.
 */
export async function chatBatch(
  api: Pick<ApiHarness, 'app' | 'db' | 'validated'>,
  {
    key,
    prompts,
    answers = {},
    failed = [],
    handlers,
  }: { key?: string; prompts: string[]; answers?: Record<number, string>; failed?: number[]; handlers?: Record<string, unknown> },
): Promise<string> {
  const created = await gql(
    api,
    'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }',
    {
      input: {
        endpoint: '/v1/chat/completions',
        requests: prompts.map((content, i) => ({
          customId: `c${i + 1}`,
          body: { model: 'sim-model', messages: [{ role: 'user', content }] },
        })),
        ...(handlers ? { handlers } : {}),
      },
    },
    key,
  );
  expect(created.errors).toBeUndefined();
  const id = created.data?.createBatch.id as string;
  await api.validated();
  const db = api.db.database.db;
  for (const [line, text] of Object.entries(answers)) {
    await answerLines(db, id, {
      where: sql`r.line = ${Number(line)}`,
      status: 'succeeded',
      statusCode: 200,
      response: chatAnswer(text),
      promptTokens: 12,
      completionTokens: 3,
    });
  }
  for (const line of failed) {
    await answerLines(db, id, {
      where: sql`r.line = ${line}`,
      status: 'failed',
      error: { code: 'engine_error', message: 'the engine crashed' },
    });
  }
  return id;
}
