import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEmbeddedDestinations } from '../../core/env.ts';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadHandlers } from '../../handlers/index.ts';
import {
  checkDestination,
  createTestContext,
  guardedFetch,
  HandlerError,
  nonPublicKind,
  type DestinationPolicy,
  type HandlerRegistry,
  type LookupAll,
} from '../../handlers/sdk/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { finishedBatch, runsEnded } from './support/batches.ts';
import { startReceiver, type HttpReceiver } from './support/http-receiver.ts';

const DENY: DestinationPolicy = { allowPrivate: false, allowedHosts: [] };
/** A resolver of made-up names: internal.example.test is on the private network, public.example.test is not. */
const lookup: LookupAll = async (host) => {
  const table: Record<string, string[]> = {
    'internal.example.test': ['203.0.113.9', '10.0.0.5'],
    'public.example.test': ['203.0.113.10'],
    'mapped.example.test': ['::ffff:127.0.0.1'],
  };
  const found = table[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address }));
};

const refusal = async (url: string, policy = DENY) => {
  try {
    await checkDestination(url, policy, lookup);
  } catch (error) {
    return error;
  }
  return null;
};

describe('which addresses are not public', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.20.30.40', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'private (unique local)'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a00:5', 'private'],
    ['ff02::1', 'multicast'],
  ])('%s is %s', (address, kind) => {
    expect(nonPublicKind(address)).toBe(kind);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '203.0.113.10', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(nonPublicKind(address)).toBeNull();
  });
});

describe('checking a destination', () => {
  it('refuses the cloud metadata address permanently, naming the host and how the operator allows it', async () => {
    const error = await refusal('http://169.254.169.254/latest/meta-data/');
    expect(error).toBeInstanceOf(HandlerError);
    expect((error as HandlerError).retryable).toBe(false);
    expect((error as HandlerError).message).toContain('169.254.169.254 is a link-local address');
    expect((error as HandlerError).message).toContain('HANDLER_ALLOWED_HOSTS=169.254.169.254');
    expect((error as HandlerError).message).toContain('HANDLER_PRIVATE_NETWORKS=allow');
  });

  it('refuses localhost, IPv6 loopback and names that resolve to a private address among public ones', async () => {
    expect(String(await refusal('http://localhost:8080/hook'))).toContain('localhost is this machine');
    expect(String(await refusal('http://[::1]:8080/hook'))).toContain('[::1] is a loopback address');
    expect(String(await refusal('https://internal.example.test/hook'))).toContain(
      'internal.example.test resolves to 10.0.0.5, a private address',
    );
    expect(String(await refusal('https://mapped.example.test/hook'))).toContain('resolves to ::ffff:127.0.0.1, a loopback address');
  });

  it('lets public hosts through, and names that do not resolve (their connection fails as usual)', async () => {
    expect(await refusal('https://public.example.test/hook')).toBeNull();
    expect(await refusal('https://8.8.8.8/hook')).toBeNull();
    expect(await refusal('https://nowhere.example.test/hook')).toBeNull();
  });

  it('lets an allowed host through whatever it resolves to, and everything when private networks are allowed', async () => {
    expect(
      await refusal('https://internal.example.test/hook', { allowPrivate: false, allowedHosts: ['internal.example.test'] }),
    ).toBeNull();
    expect(await refusal('http://[::1]:9/hook', { allowPrivate: false, allowedHosts: ['[::1]'] })).toBeNull();
    expect(await refusal('http://10.0.0.5/hook', { allowPrivate: true, allowedHosts: [] })).toBeNull();
    expect(await refusal('http://10.0.0.6/hook', { allowPrivate: false, allowedHosts: ['10.0.0.5'] })).not.toBeNull();
  });
});

describe('a guarded fetch', () => {
  let allowed: HttpReceiver;
  let other: HttpReceiver;
  beforeAll(async () => {
    [allowed, other] = await Promise.all([startReceiver(), startReceiver()]);
  });
  afterAll(async () => {
    await Promise.all([allowed?.close(), other?.close()]);
  });
  // Only 127.0.0.1 is allowed: `localhost` names the same machine and stays refused.
  const fetchOnly127 = guardedFetch(fetch, (url) => checkDestination(url, { allowPrivate: false, allowedHosts: ['127.0.0.1'] }));

  it('refuses a redirect to a refused host without connecting to it', async () => {
    const target = other.url.replace('127.0.0.1', 'localhost');
    allowed.reply = () => ({ status: 302, headers: { location: `${target}/inside` } });
    other.received.length = 0;
    const error = await fetchOnly127(`${allowed.url}/start`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    expect(String(error)).toContain('localhost is this machine');
    expect(other.received).toEqual([]);
  });

  it('follows a redirect to an allowed host, continuing a POST as a GET after a 303', async () => {
    allowed.reply = (request) =>
      request.path === '/start' ? { status: 303, headers: { location: '/done' } } : { status: 200, body: { ok: true } };
    allowed.received.length = 0;
    const response = await fetchOnly127(`${allowed.url}/start`, { method: 'POST', body: '{"a":1}' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(allowed.received.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /start', 'GET /done']);
  });
});

describe('the built-in handlers under a policy that allows only public hosts', () => {
  let registry: HandlerRegistry;
  beforeAll(async () => {
    registry = await loadHandlers({ env: {} });
  });

  it('postgres-insert refuses a database on a private host before connecting', async () => {
    const handler = registry.get('postgresInsert')!.definition;
    const context = createTestContext(handler, {
      options: { url: 'postgres://postgres@10.255.0.1:5432/results' },
      destinations: DENY,
      lookup,
      results: () => [],
    });
    const error = await handler.handle(context as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerError);
    expect((error as HandlerError).retryable).toBe(false);
    expect((error as HandlerError).message).toContain('10.255.0.1 is a private address');
  });

  it('webhook refuses a receiver whose name resolves to a private address', async () => {
    const handler = registry.get('webhook')!.definition;
    let fetched = 0;
    const context = createTestContext(handler, {
      options: { url: 'https://internal.example.test/hook', secret: 'a-secret-of-16-chars' },
      destinations: DENY,
      lookup,
      fetch: (async () => {
        fetched++;
        return new Response('{}');
      }) as unknown as typeof fetch,
    });
    const error = await handler.handle(context as never).catch((e: unknown) => e);
    expect(String(error)).toContain('internal.example.test resolves to 10.0.0.5');
    expect(fetched).toBe(0);
  });
});

describe('a fleet whose policy allows only public hosts', () => {
  const test = useTestDatabase();
  let receiver: HttpReceiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver?.close());

  it('ends a webhook run to a loopback receiver dead after one attempt, with the reason, and sends nothing', async () => {
    const registry = await loadHandlers({ env: {} });
    const batchId = await finishedBatch(test().database, {
      handlers: { webhook: { url: `${receiver.url}/hook`, secret: 'a-secret-of-16-chars' } },
    });
    const runner = createHandlerRunner({
      database: test().database,
      registry,
      destinations: DENY,
      logger: createLogger({ level: 'silent' }),
      pollIntervalMs: 50,
    });
    runner.start();
    try {
      const [run] = await runsEnded(test().database, batchId);
      expect(run).toMatchObject({ handler: 'webhook', status: 'dead', attempts: 1 });
      expect(run!.last_error).toContain('127.0.0.1 is a loopback address');
      expect(receiver.received).toEqual([]);
    } finally {
      await runner.stop();
    }
  });
});

describe('creating a batch', () => {
  const test = useTestDatabase();
  const create = async (env: Record<string, string>, handlers: unknown) => {
    const registry = await loadHandlers({ env });
    const app = createApp({
      config: loadGatewayConfig(env),
      database: test().database,
      logger: createLogger({ level: 'silent' }),
      handlers: registry,
    });
    try {
      const upload = new FormData();
      upload.append('purpose', 'batch');
      upload.append(
        'file',
        new Blob(['{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"sim-model","messages":[]}}\n']),
        'a.jsonl',
      );
      const file = (await (await app.request('/v1/files', { method: 'POST', body: upload })).json()) as { id: string };
      const res = await app.request('/v1/batches', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', handlers }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { param: string; code: string; message: string } } };
    } finally {
      await app.close();
    }
  };

  it('refuses a handler URL on a private address at once, naming the option', async () => {
    const { status, body } = await create(
      {},
      { webhook: { url: 'http://169.254.169.254/latest/meta-data/', secret: 'a-secret-of-16-chars' } },
    );
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      param: 'handlers.webhook.url',
      message: expect.stringContaining('169.254.169.254 is a link-local address'),
    });
  });

  it('accepts it where the operator allows private networks or that host', async () => {
    const webhook = { url: 'http://10.1.2.3:8080/hook', secret: 'a-secret-of-16-chars' };
    expect((await create({ HANDLER_PRIVATE_NETWORKS: 'allow' }, { webhook })).status).toBe(200);
    expect((await create({ HANDLER_ALLOWED_HOSTS: 'example.org, 10.1.2.3' }, { webhook })).status).toBe(200);
  });

  it("accepts the deployment's own internal host for its handler", async () => {
    const { status } = await create(
      { LABEL_STUDIO_URL: 'http://10.9.8.7:8080', LABEL_STUDIO_TOKEN: 'token' },
      { labelStudio: { url: 'http://10.9.8.7:8080', projectId: 1 } },
    );
    expect(status).toBe(200);
  });
});

describe('the embedded system', () => {
  it('allows private destinations without API keys, and not with them or when told', () => {
    const policy = (env: Record<string, string>) => loadGatewayConfig(withEmbeddedDestinations(env)).destinations.allowPrivate;
    expect(policy({})).toBe(true);
    expect(policy({ API_KEYS: 'k' })).toBe(false);
    expect(policy({ ADMIN_API_KEYS: 'k' })).toBe(false);
    expect(policy({ HANDLER_PRIVATE_NETWORKS: 'deny' })).toBe(false);
    // Outside embedded mode the default is to refuse.
    expect(loadGatewayConfig({}).destinations.allowPrivate).toBe(false);
  });
});
