import { toFile } from 'openai';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ownerOfKey } from '../../gateway/auth.ts';
import { batches, listOwnerWeights, queueShares, rows, setOwnerWeight } from '../../schema/index.ts';
import { DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { useApi } from './harness.ts';

type Reply = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

describe('owner weights and queue shares', () => {
  const api = useApi({ API_KEYS: 'key-alice,key-bob', ADMIN_API_KEYS: 'key-root' });

  const gql = async (key: string, query: string, variables: Record<string, unknown> = {}) => {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as Reply;
  };
  const SET = 'mutation ($owner: String!, $weight: Float!) { setOwnerWeight(owner: $owner, weight: $weight) { owner weight updatedAt } }';
  const set = (key: string, owner: string, weight: unknown) => gql(key, SET, { owner, weight });

  /** A batch of `count` embedding requests for `model`, queued (validated and cut into ranges). */
  async function queueBatch(key: string, count: number, model: string) {
    const lines = Array.from({ length: count }, (_, i) =>
      JSON.stringify({ custom_id: `r-${i}`, method: 'POST', url: '/v1/embeddings', body: { model, input: `text ${i}` } }),
    );
    const client = api().client(key);
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await api().validated();
    return batch.id;
  }

  /** A worker holds the batch's first `n` ranges, as the lease statement leaves them. */
  async function holdRanges(batchId: string, n: number) {
    await api().db.database.db.execute(sql`update request_ranges set lease_owner = 'worker-test', lease_expires_at = now() + interval '1 minute', attempts = 1
      where id in (select id from request_ranges where batch_id = ${batchId} order by first_line limit ${n})`);
  }

  it('is set by administrators only; other keys get FORBIDDEN and the weight stays', async () => {
    const alice = await ownerOfKey('key-alice');
    const refused = await set('key-alice', alice, 5);
    expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('ADMIN_API_KEYS'), extensions: { code: 'FORBIDDEN' } });
    expect((await gql('key-alice', '{ ownerWeights { owner weight updatedAt } }')).data?.ownerWeights).toEqual([
      { owner: alice, weight: 1, updatedAt: null },
    ]);

    const done = await set('key-root', alice, 2.5);
    expect(done.data?.setOwnerWeight).toMatchObject({ owner: alice, weight: 2.5, updatedAt: expect.any(String) });
    expect((await gql('key-alice', '{ ownerWeights { owner weight } }')).data?.ownerWeights).toEqual([{ owner: alice, weight: 2.5 }]);
    // Bob sees his own default, not Alice's weight; the administrator sees every weight set.
    expect((await gql('key-bob', '{ ownerWeights { owner weight } }')).data?.ownerWeights).toEqual([
      { owner: await ownerOfKey('key-bob'), weight: 1 },
    ]);
    expect((await gql('key-root', '{ ownerWeights { owner weight } }')).data?.ownerWeights).toEqual([{ owner: alice, weight: 2.5 }]);

    // Setting the default removes the weight.
    expect((await set('key-root', alice, 1)).data?.setOwnerWeight).toEqual({ owner: alice, weight: 1, updatedAt: null });
    expect((await gql('key-root', '{ ownerWeights { owner } }')).data?.ownerWeights).toEqual([]);
  });

  it('refuses weights that are not a positive number in range, naming the parameter', async () => {
    const bob = await ownerOfKey('key-bob');
    for (const weight of [0, -1, 1e-50, 5000]) {
      const refused = await set('key-root', bob, weight);
      expect(refused.errors?.[0], String(weight)).toMatchObject({
        message: expect.stringMatching(/^weight must be a number from 0\.001 to 1000/),
        extensions: { code: 'BAD_REQUEST', param: 'weight' },
      });
      expect(refused.errors?.[0]?.message).toContain(`got ${weight}`);
    }
    // Not a number at all: GraphQL refuses the variable before the resolver runs.
    const text = await set('key-root', bob, 'two');
    expect(text.data ?? null).toBeNull();
    expect(text.errors?.[0]?.message).toContain('Float');
    expect(await rows(api().db.database.db, sql`select * from owner_weights`)).toEqual([]);
  });

  it('refuses an owner that is not an owner name, and never stores an API key given in its place', async () => {
    for (const owner of ['key-alice', '', 'key_ABC']) {
      const refused = await set('key-root', owner, 2);
      expect(refused.errors?.[0], owner).toMatchObject({
        message: expect.stringContaining('sha256sum'),
        extensions: { code: 'BAD_REQUEST', param: 'owner' },
      });
      expect(refused.errors?.[0]?.message).not.toContain('key-alice');
    }
    expect(await rows(api().db.database.db, sql`select * from owner_weights`)).toEqual([]);
  });

  it('shows each owner its queued and in-flight requests per model and its share against its fair share; only administrators see other owners', async () => {
    const [alice, bob] = [await ownerOfKey('key-alice'), await ownerOfKey('key-bob')];
    // 60 lines: one line per range (ceil(60 / 256)); a worker holds 30 of Alice's and 10 of Bob's.
    const a = await queueBatch('key-alice', 60, 'shares-model');
    const b = await queueBatch('key-bob', 40, 'shares-model');
    await holdRanges(a, 30);
    await holdRanges(b, 10);
    await set('key-root', alice, 3);

    const QUERY =
      '{ queueShares(model: "shares-model") { model queuedLines inFlightLines activeOwners owners { owner yours weight queuedLines inFlightLines share fairShare } } }';
    const totals = { model: 'shares-model', queuedLines: 60, inFlightLines: 40, activeOwners: 2 };
    const aliceRow = { owner: alice, weight: 3, queuedLines: 30, inFlightLines: 30, share: 0.75, fairShare: 0.75 };
    const bobRow = { owner: bob, weight: 1, queuedLines: 30, inFlightLines: 10, share: 0.25, fairShare: 0.25 };
    expect((await gql('key-root', QUERY)).data?.queueShares).toEqual([
      {
        ...totals,
        owners: [
          { ...aliceRow, yours: false },
          { ...bobRow, yours: false },
        ].sort((x, y) => x.owner.localeCompare(y.owner)),
      },
    ]);
    expect((await gql('key-alice', QUERY)).data?.queueShares).toEqual([{ ...totals, owners: [{ ...aliceRow, yours: true }] }]);
    expect((await gql('key-bob', QUERY)).data?.queueShares).toEqual([{ ...totals, owners: [{ ...bobRow, yours: true }] }]);
    // The administrator has no work of its own here: the totals, and no row that is its own.
    expect((await gql('key-root', '{ queueShares { model owners { yours } } }')).data?.queueShares).toEqual([
      { model: 'shares-model', owners: [{ yours: false }, { yours: false }] },
    ]);

    // Lines with results leave the counts; a finished range leaves them all.
    await api().db.database.db.execute(sql`update request_ranges set succeeded = 1, finished_at = now(), lease_owner = null
      where id in (select id from request_ranges where batch_id = ${b} and lease_owner is not null)`);
    const after = (await gql('key-bob', QUERY)).data?.queueShares as {
      inFlightLines: number;
      owners: { inFlightLines: number; share: number }[];
    }[];
    expect(after[0]).toMatchObject({ inFlightLines: 30, owners: [{ inFlightLines: 0, share: 0 }] });
    await set('key-root', alice, 1);
  });

  it('answers no queue for a model without queued or in-flight work', async () => {
    expect((await gql('key-alice', '{ queueShares(model: "nobody-serves-this") { model } }')).data?.queueShares).toEqual([]);
  });
});

describe.each(DRIVERS)('owner weights and queue shares on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('keeps a weight as given, and the default as no row', async () => {
    const { db } = database();
    // Other tests weigh other owners in the same database: look at this one only.
    const weights = async () => (await listOwnerWeights(db)).filter((w) => w.owner === 'key_0000000000000001');
    expect(await setOwnerWeight(db, 'key_0000000000000001', 0.3)).toMatchObject({ weight: 0.3, updatedAtMs: expect.any(Number) });
    expect(await setOwnerWeight(db, 'key_0000000000000001', 0.7)).toMatchObject({ weight: 0.7 });
    expect(await weights()).toEqual([{ owner: 'key_0000000000000001', weight: 0.7, updatedAtMs: expect.any(Number) }]);
    await setOwnerWeight(db, 'key_0000000000000001', 1);
    expect(await weights()).toEqual([]);
  });

  it('counts the lines without results of open ranges, queued apart from held, per model and owner', async () => {
    const { db } = database();
    // Owner a: a queued range of 10 lines with 4 results, a held one of 10; owner b: a held one of 5, a finished one,
    // and a queued one of a batch that is being cancelled, which the lease no longer takes.
    for (const [id, owner, model, status] of [
      ['batch_a', 'a', 'm', 'in_progress'],
      ['batch_b', 'b', 'm', 'in_progress'],
      ['batch_c', 'b', 'other', 'in_progress'],
      ['batch_d', 'b', 'm', 'cancelling'],
    ] as const) {
      await db.insert(batches).values({
        id,
        owner,
        endpoint: '/v1/chat/completions',
        model,
        completionWindow: '24h',
        status,
        inputFileId: 'file-x',
        expiresAt: new Date(Date.now() + 3_600_000),
      });
    }
    await db.execute(sql`insert into request_ranges (batch_id, model, owner, first_line, last_line, size, succeeded, failed, lease_owner, finished_at) values
      ('batch_a', 'm', 'a', 1, 10, 10, 3, 1, null, null),
      ('batch_a', 'm', 'a', 11, 20, 10, 0, 0, 'w1', null),
      ('batch_b', 'm', 'b', 1, 5, 5, 2, 0, 'w2', null),
      ('batch_b', 'm', 'b', 6, 9, 4, 4, 0, null, now()),
      ('batch_c', 'other', 'b', 1, 3, 3, 0, 0, null, null),
      ('batch_d', 'm', 'b', 1, 7, 7, 0, 0, null, null)`);
    await setOwnerWeight(db, 'b', 2);
    expect(await queueShares(db, { model: 'm' })).toEqual([
      {
        model: 'm',
        queuedLines: 6,
        inFlightLines: 13,
        activeOwners: 2,
        owners: [
          { owner: 'a', weight: 1, queuedLines: 6, inFlightLines: 10, share: 10 / 13, fairShare: 1 / 3 },
          { owner: 'b', weight: 2, queuedLines: 0, inFlightLines: 3, share: 3 / 13, fairShare: 2 / 3 },
        ],
      },
    ]);
    expect((await queueShares(db, { onlyOwner: 'b' })).map((q) => [q.model, q.owners.map((o) => o.owner)])).toEqual([
      ['m', ['b']],
      ['other', ['b']],
    ]);
    expect((await queueShares(db, { model: 'other' }))[0]?.owners[0]).toMatchObject({
      queuedLines: 3,
      inFlightLines: 0,
      share: null,
      fairShare: 1,
    });
  });
});
