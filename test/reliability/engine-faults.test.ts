import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import type { Running } from '../helpers/processes.ts';
import { simMetrics, startSim, startWorker } from '../fleet/helpers.ts';
import { clientOf, expectEachOnce, requestLines, startGateway, submitBatch, until, waitForStatus, type GatewayProcess } from './harness.ts';

/** Short engine timeouts and one retry, so that faults end in errors as well as in successes. */
const STRICT_ENGINE = {
  ENGINE_CONNECT_TIMEOUT_MS: '300',
  ENGINE_FIRST_TOKEN_TIMEOUT_MS: '300',
  ENGINE_STALL_TIMEOUT_MS: '300',
  ENGINE_MAX_RETRIES: '1',
};
const FAST_SIM = ['--slots', '64', '--ttft-ms', '5', '--tpot-ms', '2', '--output-tokens', '16'];

// A loaded machine runs these several times slower: generous limits, no timing assertions.
describe('the engine misbehaving under a batch submitted through the gateway', { timeout: 120_000 }, () => {
  const test = useTestDatabase();
  let gateway: GatewayProcess;
  const processes: Running[] = [];
  beforeAll(async () => {
    gateway = await startGateway(test().url);
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await gateway?.process.stop();
  });

  /** A simulator serving `model` with the given faults, and a worker on it. */
  async function engineAndWorker(model: string, simArgs: string[], workerEnv: Record<string, string> = {}) {
    const sim = await startSim([...FAST_SIM, '--model', model, ...simArgs]);
    processes.push(sim.process);
    processes.push(await startWorker({ DATABASE_URL: test().url, ENGINE_URL: sim.url, ...workerEnv }));
    return sim;
  }

  it.each([
    { fault: 'hang', flag: '--hang-rate', message: /no first token within 300 ms/ },
    { fault: 'disconnect', flag: '--disconnect-rate', message: /the stream broke|the stream ended before \[DONE\]/ },
    { fault: 'garbage', flag: '--garbage-rate', message: /the engine sent a body that is not JSON|the engine answered 502/ },
  ])(
    'ends every request in success after a retry or in a clear error when the engine answers with a $fault',
    async ({ fault, flag, message }) => {
      const model = `model-${fault}`;
      const sim = await engineAndWorker(model, [flag, '0.25', '--seed', '7'], STRICT_ENGINE);
      const client = clientOf(gateway.url);
      const { text, ids } = requestLines({ count: 120, model, prefix: fault });
      const batch = await waitForStatus(client, (await submitBatch(client, text)).id, ['completed']);
      const { output, errors } = await expectEachOnce(client, batch, ids);
      // A quarter of the calls misbehave: most requests succeed at once or on their retry.
      expect(output.length).toBeGreaterThan(80);
      expect(output.every((l) => l.response?.status_code === 200 && l.error === null)).toBe(true);
      for (const line of errors) {
        // A request whose last failure was the engine's answer keeps that answer (the 502 of a garbled reply).
        if (line.response) {
          expect(line.response.status_code).toBe(502);
          expect(line.response.body).toMatchObject({ error: { code: 502 } });
          expect(line.error?.code).toBe('engine_error');
          continue;
        }
        expect(line.error?.code).toBe('engine_error');
        expect(line.error?.message).toMatch(/^The engine failed this request 2 times \(retried with backoff\); the last failure: /);
        expect(line.error?.message).toMatch(message);
      }
      // The faults happened: calls were retried.
      expect((await simMetrics(sim.url)).requests).toBeGreaterThan(120);
    },
  );

  // llama-server fails a reply whose output does not parse (a grammar or JSON schema) with a 500
  // after generating it, and the same request fails the same way every time
  // (llama.cpp common/chat.cpp, common_chat_peg_parse: "Failed to parse input at pos N").
  it("stops regenerating a request the engine fails identically twice, and keeps the engine's answer in its error line", async () => {
    const sim = await engineAndWorker('model-format', ['--format-error-rate', '0.2', '--seed', '5'], { ENGINE_MAX_RETRIES: '4' });
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 60, model: 'model-format', prefix: 'format' });
    const batch = await waitForStatus(client, (await submitBatch(client, text)).id, ['completed']);
    const { output, errors } = await expectEachOnce(client, batch, ids);
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) {
      expect(line.error?.code).toBe('engine_error_repeated');
      expect(line.error?.message).toMatch(/same error twice in a row/);
      expect(line.response?.status_code).toBe(500);
      expect(JSON.stringify(line.response?.body)).toContain('Failed to parse input at pos');
    }
    // Two generations for each failed request, not the five that four retries would take.
    expect((await simMetrics(sim.url)).requests).toBe(output.length + errors.length * 2);
  });

  it("retries an embedding whose reply is truncated JSON (the engine's non-streaming path)", async () => {
    await engineAndWorker('model-embed', ['--garbage-rate', '0.25', '--seed', '11'], { ...STRICT_ENGINE, ENGINE_MAX_RETRIES: '6' });
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 60, model: 'model-embed', prefix: 'embed', endpoint: '/v1/embeddings' });
    const batch = await waitForStatus(client, (await submitBatch(client, text, '/v1/embeddings')).id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    // Seven calls all garbled happens once in 16,000: every request ends with its vector.
    expect(output.map((l) => (l.response?.body.data as unknown[] | undefined)?.length)).toEqual(Array(60).fill(1));
  });

  it('waits out an engine that crashes mid-batch and is restarted on its port, and finishes the batch', async () => {
    const sim = await engineAndWorker('model-crash', ['--crash-after', '40']);
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 150, model: 'model-crash', prefix: 'crash' });
    const { id } = await submitBatch(client, text);
    await until(async () => sim.process.child.exitCode !== null, 'the engine to crash', 30_000);
    const port = new URL(sim.url).port;
    const revived = await startSim([...FAST_SIM, '--model', 'model-crash', '--port', port]);
    processes.push(revived.process);
    const batch = await waitForStatus(client, id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    // Requests cut off by the crash wait for the engine instead of spending their retries.
    expect(output).toHaveLength(150);
  });

  /** Every line succeeded with an output that ended as outputs end (stop or length), none cut short by an abort. */
  function expectWholeOutputs(output: Awaited<ReturnType<typeof expectEachOnce>>['output']) {
    const ends = output.map(
      (l) => (l.response?.body as { choices?: { finish_reason?: string }[] } | undefined)?.choices?.[0]?.finish_reason,
    );
    expect(ends.filter((end) => end !== 'stop' && end !== 'length')).toEqual([]);
  }

  // vLLM ends its running requests with finish_reason "abort" when it shuts down (default
  // shutdown_timeout 0, v1/engine/core.py _handle_shutdown), is paused or put to sleep: the
  // stream ends normally, [DONE] included, with the output cut short.
  it('finishes a batch whose engine restarts mid-batch, aborting its streams, with every output whole and stored once', async () => {
    const sim = await engineAndWorker('model-restart', ['--tpot-ms', '5', '--output-tokens', '40']);
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 150, model: 'model-restart', prefix: 'restart' });
    const { id } = await submitBatch(client, text);
    await until(async () => ((await client.batches.retrieve(id)).request_counts?.completed ?? 0) >= 20, '20 results');
    sim.process.child.kill('SIGTERM');
    await until(async () => sim.process.child.exitCode !== null || sim.process.child.signalCode !== null, 'the engine to stop', 30_000);
    const revived = await startSim([
      ...FAST_SIM,
      '--model',
      'model-restart',
      '--tpot-ms',
      '5',
      '--output-tokens',
      '40',
      '--port',
      new URL(sim.url).port,
    ]);
    processes.push(revived.process);
    const batch = await waitForStatus(client, id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    expect(output).toHaveLength(150);
    expectWholeOutputs(output);
  });

  it('sends again the streams an engine aborts midway (--abort-rate), storing only whole outputs', async () => {
    const sim = await engineAndWorker('model-aborts', ['--abort-rate', '0.3', '--seed', '5', '--output-tokens', '24'], {
      ENGINE_MAX_RETRIES: '10',
    });
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 120, model: 'model-aborts', prefix: 'aborts' });
    const batch = await waitForStatus(client, (await submitBatch(client, text)).id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    expect(output).toHaveLength(120);
    expectWholeOutputs(output);
    // The aborted streams were sent again.
    expect((await simMetrics(sim.url)).requests).toBeGreaterThan(120);
  });

  it('waits out an engine that freezes mid-batch (SIGSTOP) and thaws, and finishes the batch', async () => {
    const sim = await engineAndWorker('model-freeze', ['--tpot-ms', '5', '--output-tokens', '40'], {
      ENGINE_CONNECT_TIMEOUT_MS: '500',
      ENGINE_FIRST_TOKEN_TIMEOUT_MS: '500',
      ENGINE_STALL_TIMEOUT_MS: '500',
    });
    const client = clientOf(gateway.url);
    const { text, ids } = requestLines({ count: 200, model: 'model-freeze', prefix: 'freeze' });
    const { id } = await submitBatch(client, text);
    await until(async () => ((await client.batches.retrieve(id)).request_counts?.completed ?? 0) >= 20, '20 results');
    sim.process.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2500));
    sim.process.child.kill('SIGCONT');
    const batch = await waitForStatus(client, id, ['completed']);
    const { output } = await expectEachOnce(client, batch, ids);
    expect(output).toHaveLength(200);
    // The freeze cut calls off (the worker aborted them) and they were sent again after the thaw.
    expect((await simMetrics(sim.url)).requests).toBeGreaterThan(200);
  });
});
