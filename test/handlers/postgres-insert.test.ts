import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgresInsert from '../../handlers/postgres-insert/index.ts';
import { createTestContext, type HandlerResult } from '../../handlers/sdk/index.ts';
import { useTestDatabase } from '../helpers/database.ts';

const target = useTestDatabase();
let db: postgres.Sql;
beforeAll(() => {
  db = postgres(target().url, { max: 1, onnotice: () => {} });
});
afterAll(() => db.end());

const results = (n: number, content = 'output') =>
  function* (): Generator<HandlerResult> {
    for (let i = 1; i <= n; i++) {
      yield i === n
        ? {
            id: `batch_req_${i}`,
            custom_id: `c-${i}`,
            response: null,
            error: { code: 'batch_expired', message: 'too late' },
            request: { prompt: `question ${i}` },
            metadata: null,
          }
        : {
            id: `batch_req_${i}`,
            custom_id: `c-${i}`,
            response: { status_code: 200, request_id: `r${i}`, body: { text: `${content} ${i}` } },
            error: null,
            request: { prompt: `question ${i}` },
            metadata: null,
          };
    }
  };

const context = (options: Record<string, unknown>, n = 4, content?: string) =>
  createTestContext(postgresInsert, {
    options: { url: target().url, ...options },
    batch: { id: 'batch_pg' },
    results: results(n, content),
  });

describe('the postgres-insert handler', () => {
  it('creates the table when asked and writes one row per result, in chunks', async () => {
    const summary = await postgresInsert.handle(context({ table: 'public.llm_results', createTable: true, chunkSize: 3 }, 7));
    expect(summary).toEqual({ table: 'public.llm_results', rows: 7 });
    const rows = await db`select custom_id, request_id, status_code, response, error from llm_results order by custom_id`;
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual({ custom_id: 'c-1', request_id: 'batch_req_1', status_code: 200, response: { text: 'output 1' }, error: null });
    expect(rows[6]).toEqual({
      custom_id: 'c-7',
      request_id: 'batch_req_7',
      status_code: null,
      response: null,
      error: { code: 'batch_expired', message: 'too late' },
    });
  });

  it('is idempotent: a re-run updates the rows it wrote, or leaves them', async () => {
    await postgresInsert.handle(context({ table: 'llm_rerun', createTable: true }, 7, 'first'));
    await postgresInsert.handle(context({ table: 'llm_rerun' }, 7, 'second'));
    const updated =
      await db`select count(*)::int as n, max(response->>'text') as text from llm_rerun where batch_id = 'batch_pg' and custom_id = 'c-1'`;
    expect(updated[0]).toEqual({ n: 1, text: 'second 1' });
    await postgresInsert.handle(context({ table: 'llm_rerun', onConflict: 'nothing' }, 7, 'third'));
    const kept = await db`select count(*)::int as n, max(response->>'text') as text from llm_rerun`;
    expect(kept[0]).toEqual({ n: 7, text: 'second 6' });
  });

  it('gives up at once when the table does not exist, saying how to fix it', async () => {
    await expect(postgresInsert.handle(context({ table: 'no_such_table' }))).rejects.toMatchObject({
      retryable: false,
      message: expect.stringContaining('set createTable: true'),
    });
  });

  it('fails retryably when the database cannot be reached', async () => {
    const unreachable = createTestContext(postgresInsert, {
      options: { url: 'postgres://postgres@127.0.0.1:1/none' },
      results: results(2),
    });
    const error = await postgresInsert.handle(unreachable).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { retryable?: boolean }).retryable).not.toBe(false);
  });
});
