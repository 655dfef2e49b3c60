import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { answerLines } from '../helpers/results.ts';
import { fixture, useApi } from './harness.ts';

interface Reply {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; param?: string } }[];
}

describe('the GraphQL Batch API', () => {
  const api = useApi();

  async function gql(query: string, variables: Record<string, unknown> = {}): Promise<Reply> {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as Reply;
  }

  async function upload(bytes: Buffer, name: string): Promise<string> {
    const form = new FormData();
    form.append(
      'operations',
      JSON.stringify({
        query: 'mutation($file: Upload!) { uploadFile(file: $file) { id filename bytes lines purpose } }',
        variables: { file: null },
      }),
    );
    form.append('map', JSON.stringify({ 0: ['variables.file'] }));
    form.append('0', new Blob([new Uint8Array(bytes)]), name);
    const res = await api().app.request('/graphql', { method: 'POST', body: form, headers: { 'graphql-require-preflight': '1' } });
    const reply = (await res.json()) as Reply;
    expect(reply.errors).toBeUndefined();
    expect(reply.data?.uploadFile).toMatchObject({ filename: name, bytes: bytes.length, purpose: 'batch' });
    return reply.data!.uploadFile.id as string;
  }

  const BATCH_FIELDS =
    'id status endpoint model priority metadata requestCounts { total completed failed } inputFile { id filename } errors { line code } queuePosition createdAt';

  it('uploads a file as a multipart request and creates a batch from it', async () => {
    const fileId = await upload(fixture('chat-100.jsonl'), 'chat.jsonl');
    const created = await gql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { ${BATCH_FIELDS} } }`, {
      input: { inputFileId: fileId, endpoint: '/v1/chat/completions', priority: 5, metadata: { team: 'x' } },
    });
    expect(created.data?.createBatch).toMatchObject({
      status: 'validating',
      priority: 5,
      metadata: { team: 'x' },
      inputFile: { id: fileId, filename: 'chat.jsonl' },
    });
    await api().validated();
    const read = await gql(`query($id: ID!) { batch(id: $id) { ${BATCH_FIELDS} } file(id: "${fileId}") { lines contentPath } }`, {
      id: created.data!.createBatch.id,
    });
    expect(read.data?.batch).toMatchObject({
      status: 'in_progress',
      model: 'sim-model',
      requestCounts: { total: 100, completed: 0, failed: 0 },
      errors: [],
      queuePosition: 0,
    });
    expect(read.data?.file).toEqual({ lines: 100, contentPath: `/v1/files/${fileId}/content` });
  });

  it('creates a small batch from requests given inline, validated like a file', async () => {
    const reply = await gql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { id inputFileId } }`, {
      input: {
        endpoint: '/v1/embeddings',
        requests: [
          { customId: 'a', body: { model: 'sim-embed', input: 'one' } },
          { customId: 'b', body: { model: 'sim-embed', input: 'two' } },
          { customId: 'a', body: { model: 'sim-embed', input: 'three' } },
        ],
      },
    });
    await api().validated();
    const read = await gql(`query($id: ID!) { batch(id: $id) { status errors { line code param } inputFile { lines } } }`, {
      id: reply.data?.createBatch.id,
    });
    expect(read.data?.batch).toEqual({
      status: 'failed',
      errors: [{ line: 3, code: 'duplicate_custom_id', param: 'custom_id' }],
      inputFile: { lines: 3 },
    });
  });

  it('pages through batches by cursor, filtered by status and model', async () => {
    const fileId = await upload(fixture('embeddings-50.jsonl'), 'emb.jsonl');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await gql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }`, {
        input: { inputFileId: fileId, endpoint: '/v1/embeddings' },
      });
      ids.unshift(r.data!.createBatch.id);
    }
    await api().validated();
    const page = (first: number, after?: string) =>
      gql(
        `query($first: Int!, $after: String) { batches(first: $first, after: $after, model: "sim-embed", status: [in_progress]) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`,
        { first, after },
      );
    const one = await page(2);
    expect(one.data?.batches.edges.map((e: any) => e.node.id)).toEqual(ids.slice(0, 2));
    expect(one.data?.batches.pageInfo).toEqual({ hasNextPage: true, endCursor: ids[1] });
    const two = await page(2, one.data?.batches.pageInfo.endCursor);
    expect(two.data?.batches.edges[0].node.id).toBe(ids[2]);
    const none = await gql('{ batches(status: [completed]) { nodes { id } } }');
    expect(none.data?.batches.nodes).toEqual([]);
  });

  it('cancels a batch and retries its unfinished requests in a new one', async () => {
    const fileId = await upload(fixture('embeddings-50.jsonl'), 'emb.jsonl');
    const created = await gql(`mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }`, {
      input: { inputFileId: fileId, endpoint: '/v1/embeddings' },
    });
    const id = created.data!.createBatch.id as string;
    await api().validated();
    const { db } = api().db.database;
    await answerLines(db, id, { where: sql`r.line <= 3`, status: 'failed', statusCode: 400, response: '{"error":"bad"}' });
    const early = await gql('mutation($id: ID!) { retryBatch(id: $id) { id } }', { id });
    expect(early.errors?.[0]?.extensions?.code).toBe('CONFLICT');
    const cancelled = await gql('mutation($id: ID!) { cancelBatch(id: $id) { status cancelledAt errorFile { purpose kind lines } } }', {
      id,
    });
    expect(cancelled.data?.cancelBatch).toMatchObject({
      status: 'cancelled',
      errorFile: { purpose: 'batch_output', kind: 'error', lines: 50 },
    });
    // Failed requests are retried; cancelled ones were stopped on purpose and are not.
    const retried = await gql(
      'mutation($id: ID!) { retryBatch(id: $id) { id status retriedFrom requestCounts { total } inputFile { lines } } }',
      { id },
    );
    expect(retried.data?.retryBatch).toMatchObject({
      status: 'in_progress',
      retriedFrom: id,
      requestCounts: { total: 3 },
      inputFile: { lines: 3 },
    });
  });

  it('registers, updates, lists and removes models', async () => {
    const registered = await gql(
      `mutation { registerModel(input: { name: "org/m", source: "hf:org/m", engineArgs: ["--max-model-len", "4096"] }) { name enabled engineArgs maxConcurrency } }`,
    );
    expect(registered.data?.registerModel).toEqual({
      name: 'org/m',
      enabled: true,
      engineArgs: ['--max-model-len', '4096'],
      maxConcurrency: null,
    });
    const twice = await gql('mutation { registerModel(input: { name: "org/m", source: "x" }) { name } }');
    expect(twice.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', param: 'name' });
    const updated = await gql(
      'mutation { updateModel(name: "org/m", input: { enabled: false, maxConcurrency: 8 }) { enabled maxConcurrency source } }',
    );
    expect(updated.data?.updateModel).toEqual({ enabled: false, maxConcurrency: 8, source: 'hf:org/m' });
    expect((await gql('{ models(enabledOnly: true) { name } }')).data?.models).toEqual([]);
    expect((await gql('{ models { name } }')).data?.models).toEqual([{ name: 'org/m' }]);
    expect((await gql('mutation { removeModel(name: "org/m") }')).data?.removeModel).toBe(true);
    const missing = await gql('mutation { updateModel(name: "org/m", input: { enabled: true }) { name } }');
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('refuses to register a model name longer than a batch may name, with BAD_REQUEST naming name', async () => {
    const name = randomBytes(2400).toString('base64');
    const reply = await gql('mutation ($name: String!) { registerModel(input: { name: $name, source: "x" }) { name } }', { name });
    expect(reply.errors?.[0]).toMatchObject({
      message: expect.stringContaining('512 characters'),
      extensions: { code: 'BAD_REQUEST', param: 'name' },
    });
  });

  it('lists live workers', async () => {
    await api().db.database.db.execute(sql`
      insert into workers (id, host, gpu, pid, model, engine_url, status, capacity, gpu_stats) values
        ('w-live', 'gpu-host', '0', 10, 'sim-model', 'http://127.0.0.1:9', 'ready', 64,
         '{"memoryUsedMiB": 1, "memoryTotalMiB": 2, "utilizationPercent": 50, "temperatureC": 60}'),
        ('w-gone', 'gpu-host', '1', 11, null, 'http://127.0.0.1:9', 'stopped', 0, null)`);
    const live = await gql('{ workers { id status capacity gpuStats { utilizationPercent } } }');
    expect(live.data?.workers).toEqual([{ id: 'w-live', status: 'ready', capacity: 64, gpuStats: { utilizationPercent: 50 } }]);
    expect((await gql('{ workers(includeStopped: true) { id } }')).data?.workers).toHaveLength(2);
  });

  it('sums up batch history by status and model', async () => {
    const byStatus = async () => {
      const stats = await gql('{ batchStats { batches requests successRate byStatus { status batches } byModel { model batches } } }');
      expect(stats.errors).toBeUndefined();
      const counts: Record<string, number> = Object.fromEntries(stats.data?.batchStats.byStatus.map((s: any) => [s.status, s.batches]));
      expect(stats.data?.batchStats.batches).toBe(Object.values(counts).reduce((a, b) => a + b, 0));
      return counts;
    };
    // The other tests add to the same history: count what this one adds, a failed batch and a cancelled one.
    const before = await byStatus();
    const create = 'mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }';
    const body = { model: 'sim-embed', input: 'one' };
    await gql(create, {
      input: {
        endpoint: '/v1/embeddings',
        requests: [
          { customId: 'a', body },
          { customId: 'a', body },
        ],
      },
    });
    const fileId = await upload(fixture('embeddings-50.jsonl'), 'emb.jsonl');
    const cancelled = await gql(create, { input: { inputFileId: fileId, endpoint: '/v1/embeddings' } });
    await api().validated();
    await gql('mutation($id: ID!) { cancelBatch(id: $id) { id } }', { id: cancelled.data!.createBatch.id });
    expect(await byStatus()).toEqual({ ...before, failed: (before.failed ?? 0) + 1, cancelled: (before.cancelled ?? 0) + 1 });
    expect(
      (await gql(`{ batchStats(since: "${new Date(Date.now() + 60_000).toISOString()}") { batches } }`)).data?.batchStats.batches,
    ).toBe(0);
  });

  it('refuses an inline request whose body nests too deep to be written as a line, with BAD_REQUEST naming requests', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const query = 'mutation ($r: [BatchRequestInput!]) { createBatch(input: { endpoint: \\"/v1/embeddings\\", requests: $r }) { id } }';
    const body = `{"query": "${query}", "variables": {"r": [{"customId": "a", "body": {"model": "m", "input": ${deep}}}]}}`;
    const res = await api().app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const reply = (await res.json()) as Reply;
    expect(reply.errors?.[0]).toMatchObject({
      message: expect.stringContaining('nests too deep'),
      extensions: { code: 'BAD_REQUEST', param: 'requests' },
    });
  });

  it('says what was wrong in extensions.code', async () => {
    const bad = await gql(`mutation { createBatch(input: { inputFileId: "file-none", endpoint: "/v1/embeddings" }) { id } }`);
    expect(bad.errors?.[0]).toMatchObject({
      message: expect.stringContaining('file-none'),
      extensions: { code: 'NOT_FOUND', param: 'input_file_id' },
    });
    const window = await gql(
      `mutation { createBatch(input: { inputFileId: "x", endpoint: "/v1/embeddings", completionWindow: "1 day" }) { id } }`,
    );
    expect(window.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'completionWindow' });
    const both = await gql(`mutation { createBatch(input: { endpoint: "/v1/embeddings" }) { id } }`);
    expect(both.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    const page = await gql('{ batches(first: 1000) { nodes { id } } }');
    expect(page.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'first' });
  });
});
