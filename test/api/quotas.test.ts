import OpenAI, { toFile } from 'openai';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { ownerOfKey } from '../../gateway/auth.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import {
  countQueuedRequests,
  createDatabase,
  lockOwnerQueue,
  rows,
  setOwnerLimits,
  takeRateToken,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase, useTestDatabase } from '../helpers/database.ts';

type Reply = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
type App = ReturnType<typeof createApp>;

const KEYS = { API_KEYS: 'key-alice,key-bob,key-carol,key-dave,key-erin', ADMIN_API_KEYS: 'key-root' };

/**
 * Two gateway apps on one Postgres database, each with its own connection pool and validator:
 * two replicas behind a load balancer.
 */
function useReplicas(env: Record<string, string>): () => { a: App; b: App; db: Database } {
  const test = useTestDatabase();
  let second: Database | undefined;
  let apps: [App, App] | undefined;
  beforeAll(async () => {
    second = await createDatabase({ url: test().url, maxConnections: 4 });
    const config = loadGatewayConfig({ ...KEYS, ...env });
    const logger = createLogger({ level: 'silent' });
    apps = [createApp({ config, database: test().database, logger }), createApp({ config, database: second, logger })];
  });
  afterAll(async () => {
    for (const app of apps ?? []) await app.close();
    await second?.close();
  });
  return () => {
    if (!apps) throw new Error('useReplicas: call the getter inside a test');
    return { a: apps[0], b: apps[1], db: test().database };
  };
}

const client = (app: App, key: string) =>
  new OpenAI({
    apiKey: key,
    baseURL: 'http://gateway.test/v1',
    maxRetries: 0,
    fetch: (url, init) => Promise.resolve(app.fetch(new Request(url, init))),
  });

async function gql(app: App, key: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await app.request('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return { res, body: (await res.json()) as Reply };
}

/** Uploads an input file of `count` embedding requests through `app`; returns its id. */
async function upload(app: App, key: string, count: number): Promise<string> {
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ custom_id: `r-${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'quota-model', input: `text ${i}` } }),
  );
  const file = await client(app, key).files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' });
  return file.id;
}

/** POST /v1/batches through `app`, answered as is. */
const createBatch = (app: App, key: string, inputFileId: string) =>
  app.request('/v1/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ input_file_id: inputFileId, endpoint: '/v1/embeddings', completion_window: '24h' }),
  });

const SET_LIMITS = `mutation ($owner: String!, $q: Int, $rpm: Int) {
  setOwnerLimits(owner: $owner, maxQueuedRequests: $q, requestsPerMinute: $rpm) {
    owner maxQueuedRequests requestsPerMinute effectiveMaxQueuedRequests effectiveRequestsPerMinute updatedAt } }`;
const LIMITS = '{ ownerLimits { owner maxQueuedRequests requestsPerMinute effectiveMaxQueuedRequests effectiveRequestsPerMinute } }';

describe('owner quotas on two gateway replicas', () => {
  const replicas = useReplicas({});

  it('are set by administrators only; other keys get FORBIDDEN and see only their own', async () => {
    const { a, b } = replicas();
    const carol = await ownerOfKey('key-carol');
    const refused = await gql(a, 'key-carol', SET_LIMITS, { owner: carol, q: 1000000, rpm: 1000000 });
    expect(refused.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('ADMIN_API_KEYS'),
      extensions: { code: 'FORBIDDEN' },
    });
    const own = {
      owner: carol,
      maxQueuedRequests: null,
      requestsPerMinute: null,
      effectiveMaxQueuedRequests: null,
      effectiveRequestsPerMinute: null,
    };
    expect((await gql(b, 'key-carol', LIMITS)).body.data?.ownerLimits).toEqual([own]);

    const set = await gql(a, 'key-root', SET_LIMITS, { owner: carol, q: 500 });
    expect(set.body.data?.setOwnerLimits).toMatchObject({
      owner: carol,
      maxQueuedRequests: 500,
      requestsPerMinute: null,
      updatedAt: expect.any(String),
    });
    // Stored in Postgres: the other replica sees it.
    expect((await gql(b, 'key-carol', LIMITS)).body.data?.ownerLimits).toEqual([
      { ...own, maxQueuedRequests: 500, effectiveMaxQueuedRequests: 500 },
    ]);
    // The administrator sees every owner's (other tests' owners too: look at Carol's).
    const all = (await gql(b, 'key-root', LIMITS)).body.data?.ownerLimits as { owner: string }[];
    expect(all.filter((l) => l.owner === carol)).toEqual([{ ...own, maxQueuedRequests: 500, effectiveMaxQueuedRequests: 500 }]);

    // Both null: back to the defaults, and no row.
    expect((await gql(b, 'key-root', SET_LIMITS, { owner: carol, q: null, rpm: null })).body.data?.setOwnerLimits).toMatchObject({
      ...own,
      updatedAt: null,
    });
    expect(await rows(replicas().db.db, sql`select owner from owner_limits where owner = ${carol}`)).toEqual([]);
  });

  it('keeps a limit left out of setOwnerLimits; only an explicit null sets it back to the default', async () => {
    const { a, b } = replicas();
    const dave = await ownerOfKey('key-dave');
    const limitsOf = async () => {
      const all = (await gql(b, 'key-root', LIMITS)).body.data?.ownerLimits as { owner: string }[];
      return all.filter((l) => l.owner === dave);
    };
    await gql(a, 'key-root', SET_LIMITS, { owner: dave, q: 500, rpm: 60 });
    // Left out in the query text: the queued limit stays.
    const literal = `mutation { setOwnerLimits(owner: "${dave}", requestsPerMinute: 600) { maxQueuedRequests requestsPerMinute } }`;
    expect((await gql(a, 'key-root', literal)).body.data?.setOwnerLimits).toEqual({ maxQueuedRequests: 500, requestsPerMinute: 600 });
    // A variable not given is left out too.
    expect((await gql(a, 'key-root', SET_LIMITS, { owner: dave, q: 700 })).body.data?.setOwnerLimits).toMatchObject({
      maxQueuedRequests: 700,
      requestsPerMinute: 600,
    });
    expect(await limitsOf()).toEqual([
      { owner: dave, maxQueuedRequests: 700, requestsPerMinute: 600, effectiveMaxQueuedRequests: 700, effectiveRequestsPerMinute: 600 },
    ]);
    // An explicit null: that one back to the default, the other kept.
    expect((await gql(a, 'key-root', SET_LIMITS, { owner: dave, q: null })).body.data?.setOwnerLimits).toMatchObject({
      maxQueuedRequests: null,
      requestsPerMinute: 600,
    });
    // The other one null too: both at the default, and no row.
    expect((await gql(a, 'key-root', SET_LIMITS, { owner: dave, rpm: null })).body.data?.setOwnerLimits).toMatchObject({
      maxQueuedRequests: null,
      requestsPerMinute: null,
      updatedAt: null,
    });
    expect(await rows(replicas().db.db, sql`select owner from owner_limits where owner = ${dave}`)).toEqual([]);
  });

  it('refuses limits that are not a positive whole number, and an owner that is not an owner name', async () => {
    const { a, db } = replicas();
    const nobody = 'key_00000000000000ff';
    for (const [variables, param] of [
      [{ owner: nobody, q: 0 }, 'maxQueuedRequests'],
      [{ owner: nobody, rpm: -5 }, 'requestsPerMinute'],
      [{ owner: 'key-carol', q: 10 }, 'owner'],
    ] as const) {
      const refused = await gql(a, 'key-root', SET_LIMITS, variables);
      expect(refused.body.errors?.[0], param).toMatchObject({ extensions: { code: 'BAD_REQUEST', param } });
    }
    expect(await rows(db.db, sql`select owner from owner_limits where owner in (${nobody}, 'key-carol')`)).toEqual([]);
  });

  it('answers a batch creation over the queued-requests limit with a 429 from either replica, naming the limit and the count', async () => {
    const { a, b } = replicas();
    const alice = await ownerOfKey('key-alice');
    await gql(a, 'key-root', SET_LIMITS, { owner: alice, q: 5 });

    expect((await createBatch(a, 'key-alice', await upload(a, 'key-alice', 3))).status).toBe(200);
    await a.validator.idle();

    for (const [name, app] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const refused = await createBatch(app, 'key-alice', await upload(app, 'key-alice', 3));
      expect(refused.status, name).toBe(429);
      expect(refused.headers.get('x-should-retry'), name).toBe('false');
      expect(await refused.json(), name).toEqual({
        error: {
          message: `Enqueued request limit reached for ${alice}. Limit: 5 queued requests; queued now: 3; this batch: 3. Please try again once some of your batches have finished, or ask an administrator to raise the limit (setOwnerLimits).`,
          type: 'rate_limit_error',
          param: null,
          code: 'queued_request_limit_exceeded',
        },
      });
    }
    // GraphQL's createBatch, inline requests included, says the same with its code.
    const inline = await gql(
      b,
      'key-alice',
      'mutation ($r: [BatchRequestInput!]) { createBatch(input: { requests: $r, endpoint: "/v1/embeddings", completionWindow: "24h" }) { id } }',
      { r: [1, 2, 3].map((i) => ({ customId: `x-${i}`, body: { model: 'quota-model', input: 'hi' } })) },
    );
    expect(inline.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('queued now: 3; this batch: 3'),
      extensions: { code: 'RATE_LIMITED' },
    });
    // Nothing refused was kept; a batch that fits is taken.
    const batches = await client(a, 'key-alice').batches.list();
    expect(batches.data).toHaveLength(1);
    expect((await createBatch(b, 'key-alice', await upload(b, 'key-alice', 2))).status).toBe(200);
    expect((await createBatch(a, 'key-alice', await upload(a, 'key-alice', 1))).status).toBe(429);
  });

  it('counts a retry as a creation: over the limit it is refused and nothing of it is kept', async () => {
    const { a, b, db } = replicas();
    const erin = await ownerOfKey('key-erin');
    await gql(a, 'key-root', SET_LIMITS, { owner: erin, q: 3 });
    const ended = (await (await createBatch(a, 'key-erin', await upload(a, 'key-erin', 2))).json()) as { id: string };
    await a.validator.idle();
    // Both its requests failed and it ended.
    await db.db.execute(sql`insert into results (batch_id, line, status, error) select batch_id, line, 'failed', '{"code":"x","message":"x"}'::jsonb
      from requests where batch_id = ${ended.id}`);
    await db.db.execute(sql`update request_ranges set failed = size, finished_at = now() where batch_id = ${ended.id}`);
    await db.db.execute(sql`update batches set status = 'completed', completed_at = now() where id = ${ended.id}`);
    expect((await createBatch(b, 'key-erin', await upload(b, 'key-erin', 2))).status).toBe(200);

    const RETRY = 'mutation ($id: ID!) { retryBatch(id: $id) { id requestCounts { total } } }';
    const refused = await gql(b, 'key-erin', RETRY, { id: ended.id });
    expect(refused.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('Limit: 3 queued requests; queued now: 2; this batch: 2.'),
      extensions: { code: 'RATE_LIMITED' },
    });
    expect(await rows(db.db, sql`select id from batches where retried_from = ${ended.id}`)).toEqual([]);
    await gql(a, 'key-root', SET_LIMITS, { owner: erin, q: 4 });
    expect((await gql(a, 'key-erin', RETRY, { id: ended.id })).body.data?.retryBatch).toMatchObject({ requestCounts: { total: 2 } });
  });

  it('lets only one of two creations racing on two replicas past the limit', async () => {
    const { a, b, db } = replicas();
    const dave = await ownerOfKey('key-dave');
    await gql(a, 'key-root', SET_LIMITS, { owner: dave, q: 5 });
    const [fileA, fileB] = [await upload(a, 'key-dave', 3), await upload(b, 'key-dave', 3)];
    const statuses = (await Promise.all([createBatch(a, 'key-dave', fileA), createBatch(b, 'key-dave', fileB)])).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 429]);
    await Promise.all([a.validator.idle(), b.validator.idle()]);
    expect(await countQueuedRequests(db.db, dave)).toBe(3);
  });

  it('answers requests over the rate with a 429 and Retry-After, from one bucket shared by both replicas', async () => {
    const { a, b, db } = replicas();
    const bob = await ownerOfKey('key-bob');
    // Two a minute: the next token comes after 30 seconds, longer than this test runs.
    await gql(a, 'key-root', SET_LIMITS, { owner: bob, rpm: 2 });
    const get = (app: App, path: string) => app.request(path, { headers: { authorization: 'Bearer key-bob' } });

    const first = await get(a, '/v1/batches');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect((await get(b, '/v1/files')).status).toBe(200);

    for (const [name, app] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const refused = await get(app, '/v1/batches');
      expect(refused.status, name).toBe(429);
      const wait = Number(refused.headers.get('retry-after'));
      expect(wait, name).toBeGreaterThanOrEqual(1);
      expect(wait, name).toBeLessThanOrEqual(30);
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      // Worth retrying once the wait is over: the OpenAI SDKs do, after Retry-After.
      expect(refused.headers.get('x-should-retry')).toBeNull();
      expect(await refused.json(), name).toEqual({
        error: {
          message: expect.stringMatching(
            /^Rate limit reached for key_[0-9a-f]{16} on requests per minute \(RPM\): Limit 2\. Please try again in \d+s/,
          ),
          type: 'rate_limit_error',
          param: null,
          code: 'rate_limit_exceeded',
        },
      });
    }
    // GraphQL takes from the same bucket, and answers in its own shape.
    const graphql = await gql(b, 'key-bob', '{ ownerLimits { owner } }');
    expect(graphql.res.status).toBe(429);
    expect(graphql.res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(graphql.body.errors?.[0]).toMatchObject({ message: expect.stringContaining('Limit 2'), extensions: { code: 'RATE_LIMITED' } });

    // Health and metrics are not API requests; other owners have buckets of their own, or none.
    expect((await get(a, '/health')).status).toBe(200);
    expect((await get(b, '/metrics')).status).toBe(200);
    const carol = await a.request('/v1/batches', { headers: { authorization: 'Bearer key-carol' } });
    expect(carol.status).toBe(200);
    expect(carol.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(await rows(db.db, sql`select owner from rate_buckets`)).toEqual([{ owner: bob }]);
  });
});

describe('owner quotas from the environment', () => {
  const replicas = useReplicas({ MAX_QUEUED_REQUESTS_PER_OWNER: '4', API_REQUESTS_PER_MINUTE: '3' });

  it('apply to every owner without limits of its own; an administrator raises them per owner', async () => {
    const { a, b, db } = replicas();
    const bob = await ownerOfKey('key-bob');
    // Set in the database: through the API, the administrator would spend its own three requests a minute.
    await setOwnerLimits(db.db, bob, { maxQueuedRequests: 100, requestsPerMinute: 100 });

    // Alice: four queued requests, and three API requests a minute (the upload, the refused creation, a list).
    const file = await upload(a, 'key-alice', 5);
    const refused = await createBatch(b, 'key-alice', file);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(
      'Limit: 4 queued requests; queued now: 0; this batch: 5. This batch alone holds more than the limit: split it into batches of at most 4 requests.',
    );
    expect((await a.request('/v1/batches', { headers: { authorization: 'Bearer key-alice' } })).status).toBe(200);
    const limited = await b.request('/v1/batches', { headers: { authorization: 'Bearer key-alice' } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('3');

    // Bob's own limits: five requests through, a batch of five queued, and his limits in force show as such.
    expect((await createBatch(a, 'key-bob', await upload(b, 'key-bob', 5))).status).toBe(200);
    const mine = await gql(b, 'key-bob', LIMITS);
    expect(mine.res.headers.get('x-ratelimit-limit-requests')).toBe('100');
    expect(mine.body.data?.ownerLimits).toEqual([
      { owner: bob, maxQueuedRequests: 100, requestsPerMinute: 100, effectiveMaxQueuedRequests: 100, effectiveRequestsPerMinute: 100 },
    ]);
  });

  it('refuses a value that is not a positive whole number, naming the variable', () => {
    expect(() => loadGatewayConfig({ API_REQUESTS_PER_MINUTE: '0' })).toThrow(/API_REQUESTS_PER_MINUTE: expected a whole number from 1/);
    expect(() => loadGatewayConfig({ MAX_QUEUED_REQUESTS_PER_OWNER: '1.5' })).toThrow(
      /MAX_QUEUED_REQUESTS_PER_OWNER: expected a whole number/,
    );
  });
});

describe.each(DRIVERS)('owner quotas on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('counts the queued lines of running batches, and the input lines of validating ones', async () => {
    const { db } = database();
    await db.execute(sql`insert into files (id, owner, purpose, filename, lines) values ('file-q1', 'q', 'batch', 'in.jsonl', 7)`);
    await db.execute(sql`insert into batches (id, owner, endpoint, completion_window, status, input_file_id, expires_at) values
      ('batch_q1', 'q', '/v1/embeddings', '24h', 'validating', 'file-q1', now() + interval '1 day'),
      ('batch_q2', 'q', '/v1/embeddings', '24h', 'in_progress', 'file-x', now() + interval '1 day'),
      ('batch_q3', 'q', '/v1/embeddings', '24h', 'cancelling', 'file-x', now() + interval '1 day'),
      ('batch_q4', 'other', '/v1/embeddings', '24h', 'in_progress', 'file-x', now() + interval '1 day')`);
    await db.execute(sql`insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, finished_at) values
      ('batch_q2', 'm', 'q', 1, 10, 10, 3, 1, null),
      ('batch_q2', 'm', 'q', 11, 15, 5, 5, 0, now()),
      ('batch_q3', 'm', 'q', 1, 8, 8, 0, 0, null),
      ('batch_q4', 'm', 'other', 1, 9, 9, 0, 0, null)`);
    // 7 input lines of batch_q1, 6 lines without results in batch_q2's open range.
    expect(await countQueuedRequests(db, 'q')).toBe(13);
    expect(await countQueuedRequests(db, 'nobody')).toBe(0);
    // The count under the owner's lock, as a creation takes it; the lock ends with the transaction.
    for (let i = 0; i < 2; i++) {
      expect(await db.transaction(async (tx) => (await lockOwnerQueue(tx, 'q'), countQueuedRequests(tx, 'q')))).toBe(13);
    }
  });

  it('takes tokens until the bucket is empty, then tells when the next one comes', async () => {
    const { db } = database();
    expect(await takeRateToken(db, 'r', null)).toEqual({ kind: 'unlimited' });
    expect(await rows(db, sql`select * from rate_buckets where owner = 'r'`)).toEqual([]);
    expect(await takeRateToken(db, 'r', 2)).toMatchObject({ kind: 'taken', requestsPerMinute: 2, tokensLeft: 1 });
    expect(await takeRateToken(db, 'r', 2)).toMatchObject({ kind: 'taken', tokensLeft: expect.closeTo(0, 1) });
    const refused = await takeRateToken(db, 'r', 2);
    expect(refused).toMatchObject({ kind: 'refused', requestsPerMinute: 2 });
    expect(refused.kind === 'refused' && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.kind === 'refused' && refused.retryAfterSeconds).toBeLessThanOrEqual(30);
    // The owner's own limit wins over the default; a bucket an hour old is full again (at most a minute's worth).
    await setOwnerLimits(db, 'r', { maxQueuedRequests: null, requestsPerMinute: 60 });
    await db.execute(sql`update rate_buckets set refilled_at = now() - interval '1 hour' where owner = 'r'`);
    expect(await takeRateToken(db, 'r', 2)).toMatchObject({ kind: 'taken', requestsPerMinute: 60, tokensLeft: 59 });
  });
});
