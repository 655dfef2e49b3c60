import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../helpers/processes.ts';
import { startSim, startWorker } from '../fleet/helpers.ts';
import { clientOf, expectEachOnce, requestLines, startGateway, submitBatch, until, waitForStatus } from './harness.ts';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('Postgres restarted in the middle of a batch', { timeout: 120_000 }, () => {
  // A cluster of its own: the machine's Postgres serves every other test file meanwhile.
  let postgres: PrivatePostgres | undefined;
  const processes: Running[] = [];
  beforeAll(async () => {
    postgres = await startPrivatePostgres();
  });
  afterAll(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await postgres?.stop();
  });

  it('is survived by the gateway and the worker, which reconnect, and loses and duplicates nothing', async () => {
    const url = postgres!.url;
    const gateway = await startGateway(url);
    processes.push(gateway.process);
    // 16 slots, about 125 ms a request: 300 requests take some two and a half seconds.
    const sim = await startSim(['--slots', '16', '--ttft-ms', '5', '--tpot-ms', '2', '--output-tokens', '60']);
    processes.push(sim.process);
    const worker = await startWorker({ DATABASE_URL: url, ENGINE_URL: sim.url });
    processes.push(worker);

    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 300, model: 'sim-model', prefix: 'pg' });
    const { id } = await submitBatch(client, text);
    await until(async () => ((await client.batches.retrieve(id)).request_counts?.completed ?? 0) >= 40, '40 results');
    await postgres!.restart();

    // When it fails, say what the worker and the gateway were doing (a rare stall seen once under full-suite load).
    const batch = await waitForStatus(client, id, ['completed'], 90_000).catch((error: unknown) => {
      throw new Error(
        `${String(error)}\n--- worker log (tail) ---\n${worker.output().slice(-6000)}\n--- gateway log (tail) ---\n${gateway.process.output().slice(-3000)}`,
      );
    });
    const { output, errors } = await expectEachOnce(client, batch, ids);
    // Failed lines (once: 87 too_many_attempts under full-suite load): the worker's log says what it was doing.
    expect(errors, `--- worker log (tail) ---\n${worker.output().slice(-20_000)}`).toEqual([]);
    expect(output).toHaveLength(300);
    // Reconnected, not restarted: both processes lived through the outage.
    expect(gateway.process.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    // The outage was felt mid-batch: the restart cut the worker's connections under it.
    expect(worker.output()).toMatch(/"level":"warn","msg":"[^"]*failed/);
    // And both still work: a second batch goes through end to end.
    const second = requestLines({ count: 20, model: 'sim-model', prefix: 'after' });
    const done = await waitForStatus(client, (await submitBatch(client, second.text)).id, ['completed']);
    await expectEachOnce(client, done, second.ids);
  });

  it("answers 503 in OpenAI's error shape while the database is down, and recovers", async () => {
    const gateway = await startGateway(postgres!.url);
    processes.push(gateway.process);
    await postgres!.outage(async () => {
      const list = await fetch(`${gateway.url}/v1/batches`);
      expect(list.status).toBe(503);
      expect(await list.json()).toEqual({
        error: { message: expect.stringContaining('database cannot be reached'), type: 'server_error', param: null, code: null },
      });
      expect((await fetch(`${gateway.url}/health`)).status).toBe(503);
    });
    await until(async () => (await fetch(`${gateway.url}/health`)).status === 200, 'the gateway to answer again');
    expect((await fetch(`${gateway.url}/v1/batches`)).status).toBe(200);
  });
});
