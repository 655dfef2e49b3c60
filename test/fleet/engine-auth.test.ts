import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { rows } from '../../schema/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { freePort, type Running } from '../helpers/processes.ts';
import { answeredIds, eventually, expectedIds, insertChatBatch, startSim, startWorker, waitForBatch } from './helpers.ts';

// vLLM started with --api-key answers 401 on /v1/* to a request without that key, while /health
// and /metrics stay open (vllm/entrypoints/openai/server_utils.py, AuthenticationMiddleware).
// No request is at fault then: a worker whose key is wrong must not fail them one by one.
describe("an engine that refuses the worker's API key", () => {
  const test = useTestDatabase();
  const processes: Running[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });

  // llama-server leaves /v1/models open under --api-key (tools/server/server-http.cpp, public
  // endpoints), so a worker must not take an answer there for its key being accepted.
  it.each([
    { engine: 'vLLM', profile: [] as string[] },
    { engine: 'llama-server', profile: ['--profile', 'llamacpp'] },
  ])(
    'stops leasing on $engine, hands every request back unfailed, says so, and resumes once the key is accepted',
    { timeout: 90_000 },
    async ({ profile }) => {
      const { database, url } = test();
      const port = String(await freePort());
      const rotated = await startSim(['--port', port, ...profile, '--api-key', 'the-new-key']);
      processes.push(rotated.process);
      const batchId = await insertChatBatch(database, { count: 200 });
      // The engine keeps refusing for a while: the worker must not lease again and again meanwhile.
      const refusals = () => (worker.output().match(/refuses this worker's API key/g) ?? []).length;
      const worker = await startWorker({
        DATABASE_URL: url,
        ENGINE_URL: rotated.url,
        ENGINE_API_KEY: 'the-old-key',
        WORKER_MODEL: 'sim-model',
      });
      processes.push(worker);
      await worker.waitFor(/"level":"error","msg":"the engine refuses this worker's API key/, 20_000);
      await eventually(
        async () => {
          const [state] = await rows<{ queued: number; failed: number; attempts: number }>(
            database.db,
            sql`select count(*) filter (where status = 'queued')::int as queued, count(*) filter (where status = 'failed')::int as failed, max(attempts)::int as attempts
            from request_states where batch_id = ${batchId}`,
          );
          return state?.queued === 200 && state.failed === 0 && state.attempts === 0;
        },
        20_000,
        'every request back in the queue, none failed, no attempt spent',
      );
      await new Promise((r) => setTimeout(r, 3000));
      expect(refusals()).toBe(1);

      await rotated.process.stop();
      const accepted = await startSim(['--port', port, ...profile, '--api-key', 'the-old-key']);
      processes.push(accepted.process);
      expect(await waitForBatch(database, batchId, ['completed'], 60_000)).toBe('completed');
      expect(await answeredIds(database, batchId)).toEqual(expectedIds(200));
      const [failed] = await rows<{ n: number }>(
        database.db,
        sql`select count(*)::int as n from request_states where batch_id = ${batchId} and status <> 'succeeded'`,
      );
      expect(failed?.n).toBe(0);
      expect(worker.output()).toMatch(/the engine accepts this worker's API key again/);
    },
  );
});
