import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createSecretBox, isSealed, resealBatches, type SecretBox } from '../../core/secrets/index.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { createApp } from '../../gateway/app.ts';
import { ownerOfKey } from '../../gateway/auth.ts';
import { parseBatchHandlers, secretOptionsOf } from '../../gateway/batches/batch-handlers.ts';
import { loadGatewayConfig, type GatewayConfig } from '../../gateway/config.ts';
import { loadHandlers, type HandlerRegistry } from '../../handlers/index.ts';
import { verifyWebhook } from '../../handlers/sdk/index.ts';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';
import { finishedBatch, runsEnded } from './support/batches.ts';
import { startReceiver, type HttpReceiver } from './support/http-receiver.ts';

// Secret handler options at rest: sealed in `batches.handlers` with SECRETS_KEY, masked
// by the API, opened by the fleet's handler runner when the batch's handlers run.
const API_KEY = 'secrets-test-key';
const KEY = randomBytes(32).toString('base64');
const OLD_KEY = randomBytes(32).toString('base64');
const SECRET = 'batch-webhook-secret-7f3a9c';
const BEARER = 'Bearer receiver-token-5521';
const LS_TOKEN = 'label-studio-token-88c1';
const DB_PASSWORD = 'db-password-e40d';
const auth = { authorization: `Bearer ${API_KEY}` };

const test = useTestDatabase();
let receiver: HttpReceiver;
let registry: HandlerRegistry;
let config: GatewayConfig;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  receiver = await startReceiver();
  const env = { API_KEYS: API_KEY, SECRETS_KEY: KEY, HANDLER_ALLOWED_HOSTS: '127.0.0.1,db.example.com,ls.example.com' };
  registry = await loadHandlers({ env: {} });
  config = loadGatewayConfig(env);
  app = createApp({ config, database: test().database, logger: createLogger({ level: 'silent' }), handlers: registry });
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
});

/** Every secret option of the built-ins, given by a batch. */
const allSecrets = () => ({
  webhook: { url: `${receiver.url}/hook`, secret: SECRET, headers: { authorization: BEARER } },
  labelStudio: { projectId: 3, url: 'https://ls.example.com', token: LS_TOKEN },
  postgresInsert: { url: `postgres://writer:${DB_PASSWORD}@db.example.com:5432/results` },
});
const PLAINTEXTS = [SECRET, BEARER, 'receiver-token-5521', LS_TOKEN, DB_PASSWORD];

async function postBatch(handlers: Record<string, unknown>): Promise<Response> {
  const form = new FormData();
  form.set('purpose', 'batch');
  const line = JSON.stringify({
    custom_id: 'a',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] },
  });
  form.set('file', new File([`${line}\n`], 'in.jsonl'));
  const file = (await (await app.request('/v1/files', { method: 'POST', headers: auth, body: form })).json()) as { id: string };
  return app.request('/v1/batches', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', handlers }),
  });
}

async function createBatch(handlers: Record<string, unknown>): Promise<{ id: string; text: string }> {
  const res = await postBatch(handlers);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { id: (JSON.parse(text) as { id: string }).id, text };
}

async function graphql(query: string, variables: Record<string, unknown> = {}): Promise<{ text: string; body: any }> {
  const res = await app.request('/graphql', {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { text, body: JSON.parse(text) };
}

const storedRow = async (id: string) =>
  (
    await rows<{ row: string; handlers: string }>(
      test().database.db,
      sql`select b::text as row, b.handlers::text as handlers from batches b where id = ${id}`,
    )
  )[0]!;

/** A handler runner of a fleet process holding `secrets`, run until the batch's runs end. */
async function runHandlers(batchId: string, secrets?: SecretBox) {
  const runner = createHandlerRunner({
    database: test().database,
    registry,
    logger: createLogger({ level: 'silent' }),
    destinations: { allowPrivate: true, allowedHosts: [] },
    secrets,
    pollIntervalMs: 50,
    backoff: { baseMs: 60_000, maxMs: 60_000 },
  });
  runner.start();
  try {
    return await runsEnded(test().database, batchId);
  } finally {
    await runner.stop();
  }
}

/** The webhook the receiver got for a batch, verified with the batch's secret. */
function verifiedDelivery(batchId: string) {
  const request = receiver.received.find((r) => r.body.toString().includes(batchId));
  expect(request, `no webhook for ${batchId}`).toBeDefined();
  const payload = verifyWebhook<{ data: { batch: { id: string } } }>({ secret: SECRET, headers: request!.headers, body: request!.body });
  return { payload, headers: request!.headers };
}

/** A completed batch whose handlers are stored as the gateway stores them for `secrets`' key. */
async function completedBatchWith(handlers: Record<string, unknown>, secrets: SecretBox) {
  const stored = await parseBatchHandlers({ handlers: registry, config: { ...config, secrets } }, handlers);
  return finishedBatch(test().database, { handlers: stored, owner: await ownerOfKey(API_KEY) });
}

describe('secret handler options at rest', () => {
  it('stores no secret in plain text in the batch row, only sealed values', async () => {
    const { id } = await createBatch(allSecrets());
    const { row, handlers } = await storedRow(id);
    for (const plaintext of PLAINTEXTS) expect(row).not.toContain(plaintext);
    const stored = JSON.parse(handlers);
    expect(stored.webhook).toMatchObject({
      url: `${receiver.url}/hook`,
      secret: { $sealed: expect.stringMatching(/^v1\.[0-9a-f]{8}\./) },
      headers: { $sealed: expect.any(String) },
    });
    expect(stored.labelStudio).toMatchObject({ projectId: 3, url: 'https://ls.example.com', token: { $sealed: expect.any(String) } });
    expect(stored.postgresInsert.url).toEqual({ $sealed: expect.any(String) });
    // Fresh randomness per value: the same secret sealed twice gives two different values.
    const again = JSON.parse((await storedRow((await createBatch(allSecrets())).id)).handlers);
    expect(again.webhook.secret.$sealed).not.toBe(stored.webhook.secret.$sealed);
  });

  it('seals them for a batch created through GraphQL too, and the mutation answers with them masked', async () => {
    const requests = [{ customId: 'a', body: { model: 'sim-model', messages: [{ role: 'user', content: 'hi' }] } }];
    const { body, text } = await graphql('mutation($input: CreateBatchInput!) { createBatch(input: $input) { id handlers } }', {
      input: { endpoint: '/v1/chat/completions', requests, handlers: allSecrets() },
    });
    expect(body.errors).toBeUndefined();
    expect(body.data.createBatch.handlers.labelStudio.token).toBe('********');
    for (const plaintext of PLAINTEXTS) expect(text).not.toContain(plaintext);
    const { row } = await storedRow(body.data.createBatch.id);
    for (const plaintext of PLAINTEXTS) expect(row).not.toContain(plaintext);
  });

  it('never returns a secret through REST, and GraphQL shows that it is set', async () => {
    const created = await createBatch(allSecrets());
    const restTexts = [
      created.text,
      await (await app.request(`/v1/batches/${created.id}`, { headers: auth })).text(),
      await (await app.request('/v1/batches?limit=100', { headers: auth })).text(),
    ];
    for (const text of restTexts) for (const plaintext of PLAINTEXTS) expect(text).not.toContain(plaintext);

    const one = await graphql('query($id: ID!) { batch(id: $id) { id handlers } }', { id: created.id });
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.batch.handlers).toEqual({
      webhook: {
        url: `${receiver.url}/hook`,
        secret: '********',
        headers: '********',
        events: ['completed', 'failed', 'expired', 'cancelled'],
        includeResults: false,
        maxInlineBytes: 262144,
        timeoutSeconds: 30,
      },
      labelStudio: {
        projectId: 3,
        url: 'https://ls.example.com',
        token: '********',
        chunkSize: 200,
        includeErrors: false,
        textKey: 'response',
        fromName: 'correction',
        toName: 'response',
        setLabelConfig: true,
      },
      postgresInsert: { url: '********', table: 'batch_results', createTable: false, chunkSize: 500, onConflict: 'update' },
    });
    const list = await graphql('{ batches(first: 100) { edges { node { id handlers } } } }');
    for (const { text } of [one, list]) for (const plaintext of PLAINTEXTS) expect(text).not.toContain(plaintext);
  });

  it('marks the secret options in Query.handlers and in their GraphQL descriptions', async () => {
    const { body } = await graphql(`{
      handlers { name optionsSchema }
      webhook: __type(name: "WebhookHandlerOptions") { inputFields { name description } }
    }`);
    const writeOnly = (name: string) => {
      const schema = body.data.handlers.find((h: { name: string }) => h.name === name).optionsSchema;
      return Object.entries(schema.properties as Record<string, { writeOnly?: boolean }>)
        .filter(([, p]) => p.writeOnly)
        .map(([k]) => k)
        .sort();
    };
    expect(writeOnly('webhook')).toEqual(['headers', 'secret']);
    expect(writeOnly('labelStudio')).toEqual(['token']);
    expect(writeOnly('postgresInsert')).toEqual(['url']);
    const secretField = body.data.webhook.inputFields.find((f: { name: string }) => f.name === 'secret');
    expect(secretField.description).toContain('Secret: stored encrypted');
  });

  it('hands the handler run the real values: the webhook is signed with the batch secret and carries its header', async () => {
    const batchId = await completedBatchWith(
      { webhook: { url: `${receiver.url}/hook`, secret: SECRET, headers: { authorization: BEARER } } },
      config.secrets,
    );
    expect((await storedRow(batchId)).row).not.toContain(SECRET);
    const [run] = await runHandlers(batchId, config.secrets);
    expect(run).toMatchObject({ handler: 'webhook', status: 'succeeded', attempts: 1 });
    const { payload, headers } = verifiedDelivery(batchId);
    expect(payload.data.batch.id).toBe(batchId);
    expect(headers.authorization).toBe(BEARER);
  });

  it('opens a secret sealed with the previous key, given as SECRETS_KEY_PREVIOUS after a rotation', async () => {
    const before = loadGatewayConfig({ SECRETS_KEY: OLD_KEY }).secrets;
    const batchId = await completedBatchWith({ webhook: { url: `${receiver.url}/hook`, secret: SECRET } }, before);
    const rotated = loadGatewayConfig({ SECRETS_KEY: KEY, SECRETS_KEY_PREVIOUS: OLD_KEY }).secrets;
    const [run] = await runHandlers(batchId, rotated);
    expect(run).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(verifiedDelivery(batchId).payload.data.batch.id).toBe(batchId);
  });

  it('runs a batch stored in plain text by the previous release', async () => {
    // As the release before sealing wrote it: the parsed options, secret included, as they are.
    const batchId = await finishedBatch(test().database, {
      handlers: {
        webhook: {
          url: `${receiver.url}/hook`,
          secret: SECRET,
          events: ['completed'],
          includeResults: false,
          maxInlineBytes: 262144,
          timeoutSeconds: 30,
        },
      },
    });
    const [run] = await runHandlers(batchId, config.secrets);
    expect(run).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(verifiedDelivery(batchId).payload.data.batch.id).toBe(batchId);
  });

  it('fails the run, naming SECRETS_KEY and not the secret, in a fleet process without the key', async () => {
    const batchId = await completedBatchWith({ webhook: { url: `${receiver.url}/hook`, secret: SECRET } }, config.secrets);
    const runner = createHandlerRunner({
      database: test().database,
      registry,
      logger: createLogger({ level: 'silent' }),
      destinations: { allowPrivate: true, allowedHosts: [] },
      pollIntervalMs: 50,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    runner.start();
    try {
      const deadline = Date.now() + 10_000;
      let lastError: string | null = null;
      while (!lastError && Date.now() < deadline) {
        const [run] = await rows<{ last_error: string | null }>(
          test().database.db,
          sql`select last_error from handler_runs where batch_id = ${batchId}`,
        );
        lastError = run?.last_error ?? null;
        if (!lastError) await new Promise((r) => setTimeout(r, 50));
      }
      expect(lastError).toMatch(
        /handlers\.webhook\.secret was encrypted with key [0-9a-f]{8}, which this process does not hold \(neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS is set\)/,
      );
      expect(lastError).not.toContain(SECRET);
    } finally {
      await runner.stop();
    }
    expect(receiver.received.some((r) => r.body.toString().includes(batchId))).toBe(false);
  });

  it('refuses a sealed value copied from another batch, at any depth, so it is never opened for the caller', async () => {
    const stored = JSON.parse((await storedRow((await createBatch(allSecrets())).id)).handlers);
    const replays: [Record<string, unknown>, string][] = [
      [{ webhook: { url: `${receiver.url}/steal`, headers: stored.webhook.headers } }, 'handlers.webhook.headers'],
      [{ webhook: { url: `${receiver.url}/steal`, headers: { 'x-copy': stored.webhook.secret } } }, 'handlers.webhook.headers.x-copy'],
      [{ labelStudio: { projectId: 3, url: 'https://ls.example.com', token: stored.labelStudio.token } }, 'handlers.labelStudio.token'],
    ];
    for (const [handlers, param] of replays) {
      const res = await postBatch(handlers);
      const body = (await res.json()) as { error: { param: string; message: string } };
      expect(res.status).toBe(400);
      expect(body.error.param).toBe(param);
      expect(body.error.message).toContain('only the server writes');
    }
    const { body } = await graphql('mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }', {
      input: {
        endpoint: '/v1/chat/completions',
        requests: [{ customId: 'a', body: { model: 'sim-model', messages: [] } }],
        handlers: replays[0]![0],
      },
    });
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_REQUEST', param: 'handlers.webhook.headers' });
    expect(receiver.received.some((r) => r.path.includes('/steal'))).toBe(false);
  });

  it('keeps options as given without a key (keyless local mode), and still masks them', async () => {
    const keyless = createSecretBox();
    const batchId = await completedBatchWith({ webhook: { url: `${receiver.url}/hook`, secret: SECRET } }, keyless);
    expect(JSON.parse((await storedRow(batchId)).handlers).webhook.secret).toBe(SECRET);
    const { body, text } = await graphql('query($id: ID!) { batch(id: $id) { handlers } }', { id: batchId });
    expect(body.data.batch.handlers.webhook.secret).toBe('********');
    expect(text).not.toContain(SECRET);
  });

  it('re-seals plain and previous-key values with the current key, after which the previous key can be dropped', async () => {
    const plain = await finishedBatch(test().database, {
      handlers: { webhook: { url: `${receiver.url}/hook`, secret: SECRET, events: ['completed'] } },
    });
    const old = await completedBatchWith(
      { webhook: { url: `${receiver.url}/hook`, secret: SECRET } },
      loadGatewayConfig({ SECRETS_KEY: OLD_KEY }).secrets,
    );
    const stranger = await completedBatchWith(
      { webhook: { url: `${receiver.url}/hook`, secret: SECRET } },
      loadGatewayConfig({ SECRETS_KEY: randomBytes(32).toString('base64') }).secrets,
    );
    const rotated = loadGatewayConfig({ SECRETS_KEY: KEY, SECRETS_KEY_PREVIOUS: OLD_KEY }).secrets;
    const outcome = await resealBatches(test().database.db, { box: rotated, secretOptionsOf: secretOptionsOf(registry), pageSize: 2 });
    expect(outcome.unreadable.map((u) => u.id)).toEqual([stranger]);
    expect(outcome.unreadable[0]?.problem).toContain('which this process does not hold');
    for (const id of [plain, old]) {
      const stored = JSON.parse((await storedRow(id)).handlers).webhook.secret;
      expect(isSealed(stored) && (await config.secrets.isCurrent(stored))).toBe(true);
    }
    // Nothing left to do: a second pass changes no batch.
    expect((await resealBatches(test().database.db, { box: rotated, secretOptionsOf: secretOptionsOf(registry) })).resealed).toBe(0);
    // The previous key is no longer needed to run them.
    for (const id of [plain, old]) {
      expect((await runHandlers(id, config.secrets))[0]).toMatchObject({ status: 'succeeded' });
      expect(verifiedDelivery(id).payload.data.batch.id).toBe(id);
    }
  });

  it('re-seals from the command line: npm run secrets:reseal', async () => {
    const plain = await finishedBatch(test().database, {
      handlers: { labelStudio: { projectId: 1, url: 'https://ls.example.com', token: LS_TOKEN } },
    });
    const result = await runToEnd(BUN, ['scripts/reseal-secrets.ts'], {
      env: { DATABASE_URL: test().url, SECRETS_KEY: KEY, SECRETS_KEY_PREVIOUS: OLD_KEY, HANDLER_MANIFESTS: '' },
    });
    expect(result.stdout).toMatch(/sealed the secret options of [1-9]\d* of \d+ batches with handlers with SECRETS_KEY/);
    expect((await storedRow(plain)).row).not.toContain(LS_TOKEN);
  });
});
