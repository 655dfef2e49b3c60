import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { loadHandlers } from '../../handlers/index.ts';
import { verifyWebhook } from '../../handlers/sdk/index.ts';
import { startSim, startWorker, type Sim } from '../fleet/helpers.ts';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { runsEnded, runsOf } from './support/batches.ts';
import { startReceiver, type HttpReceiver } from './support/http-receiver.ts';

// The real fleet: the simulator and Bun worker processes, which run the handler outbox
// next to the requests; the gateway runs in this process.
const SLOW_MANIFEST = fileURLToPath(new URL('./support/slow-manifest/manifest.json', import.meta.url));
const SECRET = 'fleet-test-webhook-secret';
const test = useTestDatabase();
let sim: Sim;
let receiver: HttpReceiver;
let app: ReturnType<typeof createApp>;
const workers: Running[] = [];

beforeAll(async () => {
  [sim, receiver] = await Promise.all([startSim(), startReceiver()]);
  const env = { HANDLER_MANIFESTS: SLOW_MANIFEST, PUBLIC_URL: 'http://gateway.test', HANDLER_ALLOWED_HOSTS: '127.0.0.1' };
  const handlers = await loadHandlers({ manifests: [SLOW_MANIFEST], env });
  app = createApp({ config: loadGatewayConfig(env), database: test().database, logger: createLogger({ level: 'silent' }), handlers });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await sim?.process.stop();
  await receiver?.close();
  await app?.close();
});

const worker = async (name: string) => {
  const running = await startWorker({
    DATABASE_URL: test().url,
    ENGINE_URL: sim.url,
    HANDLER_MANIFESTS: SLOW_MANIFEST,
    HANDLER_LEASE_MS: '1500',
    WORKER_ID: name,
    PUBLIC_URL: 'http://gateway.test',
    HANDLER_ALLOWED_HOSTS: '127.0.0.1',
  });
  workers.push(running);
  return running;
};

async function createBatch(handlers: Record<string, unknown>): Promise<string> {
  const form = new FormData();
  form.set('purpose', 'batch');
  const lines = [1, 2, 3, 4].map((i) =>
    JSON.stringify({
      custom_id: `q${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim-model', max_tokens: 8, messages: [{ role: 'user', content: `question ${i}` }] },
    }),
  );
  form.set('file', new File([`${lines.join('\n')}\n`], 'input.jsonl'));
  const file = (await (await app.request('/v1/files', { method: 'POST', body: form })).json()) as { id: string };
  const res = await app.request('/v1/batches', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', handlers }),
  });
  expect(res.status).toBe(200);
  const { id } = (await res.json()) as { id: string };
  await app.validator.idle();
  return id;
}

describe('result handlers run by the fleet', () => {
  it('delivers a signed webhook for a batch the worker completed', async () => {
    await worker('handlers-worker-a');
    const batchId = await createBatch({ webhook: { url: `${receiver.url}/hook`, secret: SECRET, includeResults: true } });
    const [run] = await runsEnded(test().database, batchId, 60_000);
    expect(run).toMatchObject({ handler: 'webhook', event: 'completed', status: 'succeeded', attempts: 1 });
    const request = receiver.received.find((r) => r.body.toString().includes(batchId))!;
    const payload = verifyWebhook<{
      data: {
        batch: { status: string };
        output_file: { url: string };
        results: { custom_id: string; response: { status_code: number } }[];
      };
    }>({
      secret: SECRET,
      headers: request.headers,
      body: request.body,
    });
    expect(payload.data.batch.status).toBe('completed');
    expect(payload.data.output_file.url).toMatch(/^http:\/\/gateway\.test\/v1\/files\/file-\w+\/content$/);
    expect(payload.data.results.map((r) => [r.custom_id, r.response.status_code])).toEqual([
      ['q1', 200],
      ['q2', 200],
      ['q3', 200],
      ['q4', 200],
    ]);
    expect(() => verifyWebhook({ secret: SECRET, headers: request.headers, body: `${request.body.toString()} ` })).toThrow();
  });

  it('finishes a handler run whose worker was killed in the middle of it', async () => {
    const doomed = workers[0] ?? (await worker('handlers-worker-a'));
    const batchId = await createBatch({ slow: {} });
    await doomed.waitFor(/slow handler is running/, 60_000);
    await doomed.stop('SIGKILL');
    expect((await runsOf(test().database, batchId))[0]).toMatchObject({ status: 'running', attempts: 1 });
    await worker('handlers-worker-b');
    const [run] = await runsEnded(test().database, batchId, 60_000);
    expect(run).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      last_error: 'attempt 1 did not finish: the process running it stopped (its lease expired)',
      result: { finishedOnAttempt: 2, checkpoint: { started: true } },
    });
  });
});
