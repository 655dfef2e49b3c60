import { getIntrospectionQuery } from 'graphql';
import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import * as DASHBOARD from '../../gateway/dashboard/client/queries.ts';
import { useApi } from '../api/harness.ts';

interface Reply {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: { code?: string; param?: string } }[];
}

const LIMIT = 64 * 1024;

describe('requests that are too deep, too costly, too large or point nowhere', () => {
  const api = useApi({ MAX_JSON_BODY_BYTES: String(LIMIT) });

  async function gql(query: string, variables: Record<string, unknown> = {}) {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, reply: (await res.json()) as Reply };
  }

  const upload = async (name = 'a.jsonl') =>
    api()
      .client()
      .files.create({
        file: await toFile(
          Buffer.from('{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}\n'),
          name,
        ),
        purpose: 'batch',
      });

  it("accepts graphql-js's introspection query and every query the dashboard sends", async () => {
    const introspection = await gql(getIntrospectionQuery());
    expect(introspection.reply.errors).toBeUndefined();
    const variables = { id: 'batch_none', all: true, status: null, model: null, after: null, first: 50, filter: null };
    for (const [name, query] of Object.entries(DASHBOARD)) {
      if (typeof query !== 'string' || query.startsWith('subscription') || query.startsWith('mutation')) continue;
      const { reply } = await gql(query, variables);
      expect(reply.errors, name).toBeUndefined();
    }
  });

  it('refuses introspection nested deeper than GRAPHQL_MAX_DEPTH before running it', async () => {
    let nested = 'name';
    for (let i = 0; i < 8; i++) nested = `fields { type { ${nested} } }`;
    const deep = await gql(`{ __schema { types { ${nested} } } }`);
    expect(deep.reply.data).toBeUndefined();
    expect(deep.reply.errors).toContainEqual({
      message:
        'The operation nests fields more than 15 deep (GRAPHQL_MAX_DEPTH); ask for fewer nested levels, in several queries if need be.',
      locations: expect.any(Array),
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('refuses a document nested twenty thousand deep as too deep, instead of overflowing the parser', async () => {
    const query = `{${'a{'.repeat(20_000)}b${'}'.repeat(20_001)}`;
    const { reply } = await gql(query);
    expect(reply).toEqual({
      errors: [
        {
          message: expect.stringMatching(/^The operation nests brackets more than 64 deep; ask for fewer nested levels/),
          extensions: { code: 'BAD_REQUEST' },
        },
      ],
    });
  });

  it('counts the brackets after a block string holding an escaped triple quote, so such a document is refused too', async () => {
    const query = `query ($x: String = """ \\""" """) {${'a{'.repeat(20_000)}b${'}'.repeat(20_001)}`;
    const { status, reply } = await gql(query);
    expect(status).toBeLessThan(500);
    expect(reply).toEqual({
      errors: [{ message: expect.stringMatching(/^The operation nests brackets more than 64 deep/), extensions: { code: 'BAD_REQUEST' } }],
    });
  });

  it('refuses an operation costing more than GRAPHQL_MAX_COST, counting aliases and page sizes given as variables', async () => {
    const page = 'nodes { id status model endpoint priority createdAt requestCounts { total completed failed } }';
    const aliases = Array.from({ length: 10 }, (_, i) => `p${i}: batches(first: 100) { ${page} }`).join(' ');
    const costly = await gql(`{ ${aliases} }`);
    expect(costly.reply.data).toBeUndefined();
    expect(costly.reply.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^The operation costs at least \d+, more than 10000 \(GRAPHQL_MAX_COST/),
      extensions: { code: 'BAD_REQUEST' },
    });
    const paged = `query ($n: Int!) { ${Array.from({ length: 10 }, (_, i) => `p${i}: batches(first: $n) { ${page} }`).join(' ')} }`;
    expect((await gql(paged, { n: 100 })).reply.errors?.[0]?.message).toMatch(/GRAPHQL_MAX_COST/);
    expect((await gql(paged, { n: 5 })).reply.errors).toBeUndefined();
  });

  it("refuses a GraphQL body over MAX_JSON_BODY_BYTES with 413 in GraphQL's error shape, with or without a Content-Length", async () => {
    const body = JSON.stringify({ query: '{ health }', variables: { padding: 'x'.repeat(LIMIT) } });
    const expected = {
      errors: [
        { message: expect.stringContaining(`larger than ${LIMIT} bytes (MAX_JSON_BODY_BYTES)`), extensions: { code: 'PAYLOAD_TOO_LARGE' } },
      ],
    };
    const sized = await api().app.request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(sized.status).toBe(413);
    expect(await sized.json()).toEqual(expected);
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
        controller.close();
      },
    });
    const chunked = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toEqual(expected);
    expect((await gql('{ health }')).reply).toEqual({ data: { health: 'ok' } });
  });

  it("refuses a batch creation body over MAX_JSON_BODY_BYTES with 413 in OpenAI's error shape, and still takes uploads larger than it", async () => {
    const client = api().client();
    const file = await upload();
    const refused = await client.batches
      .create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h', metadata: { padding: 'x'.repeat(LIMIT) } })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      status: 413,
      error: { message: expect.stringContaining('MAX_JSON_BODY_BYTES'), type: 'invalid_request_error', param: null, code: null },
    });
    // No batch of that file: other tests create batches of their own.
    expect((await client.batches.list()).data.filter((b) => b.input_file_id === file.id)).toEqual([]);
    const big = Array.from(
      { length: 2000 },
      (_, i) => `{"custom_id":"r${i}","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}`,
    ).join('\n');
    expect(big.length).toBeGreaterThan(LIMIT);
    const large = await client.files.create({ file: await toFile(Buffer.from(big), 'large.jsonl'), purpose: 'batch' });
    expect(large.bytes).toBe(big.length);
    const batch = await client.batches.create({ input_file_id: large.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await api().validated();
    expect((await client.batches.retrieve(batch.id)).request_counts?.total).toBe(2000);
  });

  it('refuses a batch creation body over MAX_JSON_BODY_BYTES whatever content type it claims', async () => {
    const file = await upload('claims.jsonl');
    const body = JSON.stringify({
      input_file_id: file.id,
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      padding: 'x'.repeat(LIMIT),
    });
    for (const contentType of ['multipart/form-data; boundary=x', 'text/plain']) {
      const res = await api().app.request('/v1/batches', { method: 'POST', headers: { 'content-type': contentType }, body });
      expect(res.status, contentType).toBe(413);
      expect(await res.json()).toEqual({
        error: { message: expect.stringContaining('MAX_JSON_BODY_BYTES'), type: 'invalid_request_error', param: null, code: null },
      });
    }
  });

  it('refuses metadata holding an unpaired surrogate, which jsonb cannot store, with a 400 naming metadata on REST and GraphQL', async () => {
    const file = await upload('surrogate.jsonl');
    const body = `{"input_file_id": "${file.id}", "endpoint": "/v1/embeddings", "completion_window": "24h", "metadata": {"note": "\\ud800"}}`;
    const res = await api().app.request('/v1/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { message: expect.stringContaining('unpaired surrogate'), type: 'invalid_request_error', param: 'metadata', code: null },
    });
    const graphql = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"query": "mutation ($input: CreateBatchInput!) { createBatch(input: $input) { id } }", "variables": {"input": {"inputFileId": "${file.id}", "endpoint": "/v1/embeddings", "metadata": {"note": "\\udc00"}}}}`,
    });
    expect(((await graphql.json()) as Reply).errors?.[0]).toMatchObject({
      message: expect.stringContaining('unpaired surrogate'),
      extensions: { code: 'BAD_REQUEST', param: 'metadata' },
    });
  });

  it("answers a cursor that is not one of the caller's ids with 400 naming after, on REST and GraphQL", async () => {
    const client = api().client();
    const file = await upload('cursor.jsonl');
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    for (const after of ['batch_nope', `x'; drop table batches; --`, '$1', file.id]) {
      const res = await api().app.request(`/v1/batches?after=${encodeURIComponent(after)}`);
      expect(res.status, after).toBe(400);
      expect(await res.json()).toEqual({
        error: {
          message: expect.stringMatching(
            /^after must be the id of one of your batches \(the last_id of the previous page\); .* Leave it out to start from the first page\.$/,
          ),
          type: 'invalid_request_error',
          param: 'after',
          code: null,
        },
      });
      const graphql = await gql('query ($after: String) { batches(after: $after) { nodes { id } } }', { after });
      expect(graphql.reply.errors?.[0]).toMatchObject({
        message: expect.stringContaining('endCursor'),
        extensions: { code: 'BAD_REQUEST', param: 'after' },
      });
    }
    for (const after of ['file-nope', batch.id, '\\']) {
      const res = await api().app.request(`/v1/files?after=${encodeURIComponent(after)}`);
      expect(res.status, after).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe('after');
    }
    // A good cursor still pages.
    expect((await api().app.request(`/v1/batches?after=${batch.id}`)).status).toBe(200);
    expect(
      (await gql('query ($after: String) { batches(after: $after) { nodes { id } } }', { after: batch.id })).reply.errors,
    ).toBeUndefined();
    expect((await api().app.request(`/v1/files?after=${file.id}`)).status).toBe(200);
  });
});

describe('GraphQL uploads larger than MAX_FILE_BYTES', () => {
  const MAX_FILE_BYTES = 100_000;
  const api = useApi({ MAX_FILE_BYTES: String(MAX_FILE_BYTES), MAX_JSON_BODY_BYTES: String(LIMIT) });
  const boundary = 'vbs-graphql-upload';
  const encoder = new TextEncoder();
  const head = encoder.encode(
    [
      `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"mutation ($f: Upload!) { uploadFile(file: $f) { id } }","variables":{"f":null}}`,
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}`,
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`,
    ].join('\r\n'),
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const line = encoder.encode(
    `${'{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}'.padEnd(1023)}\n`,
  );
  const send = (body: BodyInit, size?: number) =>
    api().app.request('/graphql', {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        ...(size === undefined ? {} : { 'content-length': String(size) }),
      },
      body,
      duplex: 'half',
    } as RequestInit);

  it('refuses one whose Content-Length says too much with 413, before reading it', async () => {
    const kilobytes = (2 * (MAX_FILE_BYTES + LIMIT)) / 1024;
    const body = Buffer.concat([head, ...Array.from({ length: kilobytes }, () => line), tail]);
    const res = await send(body, body.length);
    expect(res.status).toBe(413);
    expect(((await res.json()) as Reply).errors?.[0]).toMatchObject({
      message: expect.stringContaining('MAX_FILE_BYTES'),
      extensions: { code: 'PAYLOAD_TOO_LARGE' },
    });
  });

  it('stops reading one sent without a Content-Length soon after the limit, instead of holding all of it', async () => {
    const total = 20 * 1024 * 1024;
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === 0) controller.enqueue(head);
        else if (pulled >= total) {
          controller.enqueue(tail);
          controller.close();
          return;
        } else controller.enqueue(Buffer.concat(Array.from({ length: 64 }, () => line)));
        pulled += pulled === 0 ? head.length : 64 * line.length;
      },
    });
    const res = await send(body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(pulled).toBeLessThan(MAX_FILE_BYTES + LIMIT + 1024 * 1024);
    expect((await api().client().files.list()).data).toEqual([]);
  });
});

describe('GraphQL limits set low', () => {
  const api = useApi({ GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_COST: '41' });

  async function gql(query: string) {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, reply: (await res.json()) as Reply };
  }

  it('refuses what is deeper than GRAPHQL_MAX_DEPTH, through fragments too, and takes what is not', async () => {
    expect((await gql('{ batches { nodes { requestCounts { total } } } }')).reply.errors?.[0]?.message).toMatch(
      /^The operation nests fields more than 3 deep/,
    );
    const viaFragments = await gql(
      'query Page { batches { ...Nodes } } fragment Nodes on BatchConnection { nodes { ... on Batch { requestCounts { total } } } }',
    );
    expect(viaFragments.status).toBe(400);
    expect(viaFragments.reply).toEqual({
      errors: [
        expect.objectContaining({
          message: expect.stringMatching(/^Operation Page nests fields more than 3 deep/),
          extensions: { code: 'BAD_REQUEST' },
        }),
      ],
    });
    expect((await gql('{ batches { nodes { id } } }')).reply).toEqual({ data: { batches: { nodes: [] } } });
  });

  it('refuses what costs more than GRAPHQL_MAX_COST and takes what does not', async () => {
    // batches (first: 20 by default) { nodes { id } }: 1 + 20 + 20 = 41; one more field under nodes adds 20.
    expect((await gql('{ batches { nodes { id } } }')).reply.errors).toBeUndefined();
    const costly = await gql('{ batches { nodes { id status } } }');
    expect(costly.reply.errors?.[0]?.message).toBe(
      'The operation costs at least 61, more than 41 (GRAPHQL_MAX_COST: one per field, times the page size of each page it is in); ask for smaller pages or fewer fields, in several queries if need be.',
    );
    expect((await gql('{ a: batches(first: 10) { nodes { id } } b: batches(first: 9) { nodes { id } } }')).reply.errors).toBeUndefined();
    expect(
      (await gql('{ a: batches(first: 10) { nodes { id } } b: batches(first: 10) { nodes { id } } }')).reply.errors?.[0]?.message,
    ).toMatch(/GRAPHQL_MAX_COST/);
  });
});
