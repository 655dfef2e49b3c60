import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { ownerOfKey } from '../../gateway/auth.ts';
import { fixture, useApi } from './harness.ts';

describe('API keys', () => {
  const api = useApi({ API_KEYS: 'key-alice,key-bob' });

  async function batchOf(client: OpenAI) {
    const file = await client.files.create({ file: await toFile(fixture('embeddings-50.jsonl'), 'emb.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    await api().validated();
    return { file, batch };
  }

  it('requires a bearer key on every route but /health, with OpenAI error bodies', async () => {
    const { app } = api();
    expect((await app.request('/health')).status).toBe(200);
    for (const path of ['/v1/files', '/v1/batches', '/v1/models', '/graphql', '/metrics']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(401);
    }
    const missing = await app.request('/v1/batches');
    expect(await missing.json()).toEqual({
      error: {
        message: expect.stringContaining('Authorization: Bearer'),
        type: 'invalid_request_error',
        param: null,
        code: 'missing_api_key',
      },
    });
    const wrong = await app.request('/v1/batches', { headers: { authorization: 'Bearer key-eve' } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    const sdk = await api()
      .client('key-eve')
      .batches.list()
      .catch((e: unknown) => e);
    expect(sdk).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('lets each key see only its own files and batches: another key gets 404', async () => {
    const alice = api().client('key-alice');
    const bob = api().client('key-bob');
    const { file, batch } = await batchOf(alice);
    expect((await alice.batches.retrieve(batch.id)).id).toBe(batch.id);
    await expect(bob.batches.retrieve(batch.id)).rejects.toMatchObject({ status: 404 });
    await expect(bob.batches.cancel(batch.id)).rejects.toMatchObject({ status: 404 });
    await expect(bob.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(bob.files.content(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(bob.files.delete(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      bob.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
    ).rejects.toMatchObject({
      status: 404,
    });
    expect((await bob.batches.list()).data).toEqual([]);
    expect((await bob.files.list()).data).toEqual([]);
    expect((await alice.files.retrieve(file.id)).id).toBe(file.id);
  });

  it('gives GraphQL the same owner as REST', async () => {
    const { batch } = await batchOf(api().client('key-alice'));
    const ask = async (key: string) => {
      const res = await api().app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: 'query($id: ID!) { batch(id: $id) { id status } }', variables: { id: batch.id } }),
      });
      return res.json();
    };
    expect(await ask('key-alice')).toEqual({ data: { batch: { id: batch.id, status: 'in_progress' } } });
    expect(await ask('key-bob')).toEqual({ data: { batch: null } });
  });

  it('names owners by a digest of their key, never the key itself', async () => {
    const owner = await ownerOfKey('key-alice');
    expect(owner).toMatch(/^key_[0-9a-f]{16}$/);
    expect(owner).not.toContain('alice');
    expect(await ownerOfKey('key-alice')).toBe(owner);
    expect(await ownerOfKey('key-bob')).not.toBe(owner);
  });
});

describe('administrator keys', () => {
  const api = useApi({ API_KEYS: 'key-alice', ADMIN_API_KEYS: 'key-root' });

  const gql = async (key: string, query: string) => {
    const res = await api().app.request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query }),
    });
    return (await res.json()) as {
      data?: Record<string, unknown> | null;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    };
  };
  const register =
    'mutation { registerModel(input: { name: "org/m", source: "hf:org/m", engineArgs: ["--trust-remote-code"] }) { name engineArgs } }';

  it('alone may change the model registry, which decides what the GPUs run; other keys get FORBIDDEN and may read it', async () => {
    for (const mutation of [
      register,
      'mutation { updateModel(name: "org/m", input: { enabled: false }) { name } }',
      'mutation { removeModel(name: "org/m") }',
    ]) {
      const refused = await gql('key-alice', mutation);
      expect(refused.errors?.[0]).toMatchObject({ message: expect.stringContaining('ADMIN_API_KEYS'), extensions: { code: 'FORBIDDEN' } });
    }
    expect((await gql('key-alice', '{ models { name } }')).data?.models).toEqual([]);
    expect((await gql('key-root', register)).data?.registerModel).toEqual({ name: 'org/m', engineArgs: ['--trust-remote-code'] });
    expect((await gql('key-alice', '{ models { name engineArgs } }')).data?.models).toEqual([
      { name: 'org/m', engineArgs: ['--trust-remote-code'] },
    ]);
    expect((await gql('key-root', 'mutation { removeModel(name: "org/m") }')).data?.removeModel).toBe(true);
  });

  it('are API keys too: they own their batches like any other key', async () => {
    const root = api().client('key-root');
    const file = await root.files.create({ file: await toFile(fixture('embeddings-50.jsonl'), 'emb.jsonl'), purpose: 'batch' });
    expect((await root.files.retrieve(file.id)).id).toBe(file.id);
    await expect(api().client('key-alice').files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(api().client('key-eve').files.list()).rejects.toMatchObject({ status: 401 });
  });
});
