import { createServer } from 'node:http';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { freePort } from '../helpers/processes.ts';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngineClient, type EngineClient } from '../../fleet/engine/client.ts';
import { createLoadReader } from '../../fleet/worker/engine-metrics.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import type { EngineOutcome } from '../../fleet/engine/outcome.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import type { SimulatorOptions } from '../../fleet/sim/index.ts';
import { runRequest as runRequestRaw, type Job } from '../../fleet/worker/run-request.ts';
import type { RequestResult } from '../../schema/index.ts';
import { eventually, serveSimulator, type ServedSimulator } from './helpers.ts';

const watchdog = createWatchdog(20);
afterAll(() => watchdog.close());

const running: ServedSimulator[] = [];
afterEach(async () => {
  for (const served of running.splice(0)) await served.close();
});

/** Serves a fast simulator for one test. */
async function serveSim(options: SimulatorOptions = {}, port = 0) {
  const served = await serveSimulator({ ttftMs: 1, tpotMs: 1, outputTokens: 12, ...options }, port);
  running.push(served);
  return served;
}

const client = (url: string, timeouts: Partial<{ connect: number; first: number; stall: number }> = {}) =>
  createEngineClient({
    baseUrl: `${url}/v1`,
    watchdog,
    connectTimeoutMs: timeouts.connect ?? 5000,
    firstTokenTimeoutMs: timeouts.first ?? 5000,
    stallTimeoutMs: timeouts.stall ?? 5000,
  });

const job = (body: Record<string, unknown> = {}, endpoint = '/v1/chat/completions'): Job => ({
  id: 1,
  rangeId: 1,
  batchId: 'b',
  line: 1,
  model: 'sim-model',
  endpoint,
  body: JSON.stringify({ model: 'sim-model', messages: [{ role: 'user', content: 'hello' }], ...body }),
});

function context(engine: EngineClient, maxRetries = 3) {
  const errors: EngineOutcome[] = [];
  const gate = createEngineGate({ health: () => engine.health(), probeMs: 50 });
  return {
    ctx: { client: engine, gate, maxRetries, backoff: { baseMs: 5, maxMs: 20 }, onEngineError: (o: EngineOutcome) => errors.push(o) },
    errors,
    gate,
  };
}

/** Runs a request that is expected to end in a result (or an abort). */
const runRequest = async (...args: Parameters<typeof runRequestRaw>) => {
  const result = await runRequestRaw(...args);
  if (result === 'model_missing') throw new Error('unexpected model_missing');
  return result as RequestResult | null;
};

const strip = (body: Record<string, unknown>) => ({ ...body, id: null, created: null });

describe('the engine client', () => {
  it('streams a chat request and reassembles the body vLLM returns without streaming', async () => {
    const { url } = await serveSim();
    const tools = [
      {
        type: 'function',
        function: { name: 'lookup_salary_band', parameters: { type: 'object', properties: { level: { type: 'string' } } } },
      },
    ];
    for (const extra of [{}, { tools }, { response_format: { type: 'json_object' } }]) {
      const body = { model: 'sim-model', messages: [{ role: 'user', content: 'hello' }], ...extra };
      const outcome = await client(url).call('/v1/chat/completions', JSON.stringify(body));
      const plain = (await (
        await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json()) as Record<string, unknown>;
      expect(outcome.kind).toBe('ok');
      if (outcome.kind !== 'ok') return;
      // Field for field and in order, as the result line shows it.
      expect(JSON.stringify(strip(outcome.body))).toBe(JSON.stringify(strip(plain)));
      expect(outcome.requestId).toBe(outcome.body.id);
      expect(outcome.completionTokens).toBe((plain.usage as { completion_tokens: number }).completion_tokens);
    }
  });

  it('sends embeddings without streaming', async () => {
    const { url } = await serveSim({ models: ['sim-embed'] });
    const outcome = await client(url).call('/v1/embeddings', JSON.stringify({ model: 'sim-embed', input: 'a document' }));
    expect(outcome).toMatchObject({
      kind: 'ok',
      statusCode: 200,
      body: { object: 'list', data: [{ object: 'embedding' }] },
      promptTokens: expect.any(Number),
    });
  });

  it('reads running and waiting requests from /metrics, and the served models', async () => {
    const { url } = await serveSim();
    expect(await createLoadReader({ baseUrl: url })()).toEqual({ kind: 'load', running: 0, waiting: 0, kvCacheUsage: 0, engine: 'vllm' });
    expect(await client(url).models()).toEqual(['sim-model']);
  });
});

describe('running a request', () => {
  it('succeeds after retrying 500s and 429s with backoff', async () => {
    const { url } = await serveSim({ errorRate: 0.4, rateLimitRate: 0.3, seed: 7 });
    const { ctx, errors } = context(client(url), 30);
    for (let i = 0; i < 5; i++) {
      const result = await runRequest(ctx, job({ seed: i }), new AbortController().signal);
      expect(result).toMatchObject({ status: 'succeeded', statusCode: 200 });
    }
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.kind === 'retry' && (e.statusCode === 500 || e.statusCode === 429))).toBe(true);
  });

  it("fails a request the engine rejects with a 4xx at once, keeping the engine's error body", async () => {
    const { url } = await serveSim();
    const { ctx, errors } = context(client(url));
    const result = await runRequest(ctx, job({ max_tokens: -1 }), new AbortController().signal);
    expect(result).toMatchObject({ status: 'failed', statusCode: 400, error: null });
    expect(JSON.parse(result?.response ?? '')).toMatchObject({ error: { type: 'BadRequestError', param: 'max_tokens' } });
    expect(errors).toHaveLength(1);
  });

  it('hands a request back when the engine says it does not serve the model', async () => {
    const { url } = await serveSim({ models: ['another-model'] });
    const { ctx } = context(client(url));
    expect(await runRequestRaw(ctx, job(), new AbortController().signal)).toBe('model_missing');
  });

  it('fails with a clear error after its retries when the engine hangs, stalls or disconnects every time', async () => {
    const cases = [
      [{ hangRate: 1 }, /no first token within 100 ms/],
      [{ stallRate: 1, outputTokens: 40 }, /stalled for 100 ms|no first token/],
      [{ disconnectRate: 1, outputTokens: 40 }, /stream broke|ended before \[DONE\]/],
    ] as const;
    for (const [faults, message] of cases) {
      const { url } = await serveSim(faults);
      const { ctx } = context(client(url, { connect: 100, first: 100, stall: 100 }), 2);
      const result = await runRequest(ctx, job(), new AbortController().signal);
      expect(result).toMatchObject({ status: 'failed', statusCode: null, response: null, error: { code: 'engine_error' } });
      expect(result?.error?.message).toContain('failed this request 3 times');
      expect(result?.error?.message).toMatch(message);
    }
  });

  it('waits at the gate while the engine is down, without spending retries, and succeeds when it is back', async () => {
    const port = await freePort();
    const { ctx, gate } = context(client(`http://127.0.0.1:${port}`), 0);
    const pending = runRequest(ctx, job(), new AbortController().signal);
    await eventually(async () => !gate.up, 10_000, 'the gate to close');
    await serveSim({}, port);
    expect(await pending).toMatchObject({ status: 'succeeded' });
    expect(gate.up).toBe(true);
  });

  it('fails a request that takes the engine down every time it runs, after a bounded number of downs', async () => {
    const port = await freePort();
    let crashes = 0;
    const up = async (): Promise<void> => {
      const { server } = await serveSim(
        {
          crashAfter: 1,
          onCrash: () => {
            crashes++;
            server.closeAllConnections();
            server.close();
            setTimeout(() => void up(), 300);
          },
        },
        port,
      );
    };
    await up();
    const { ctx } = context(client(`http://127.0.0.1:${port}`), 10);
    const result = await runRequest({ ...ctx, maxEngineDowns: 2 }, job(), new AbortController().signal);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'engine_unavailable' } });
    expect(result?.error?.message).toContain('The engine went down 3 times while running this request');
    expect(crashes).toBeGreaterThanOrEqual(3);
  });

  it("aborts the stream when asked, freeing the engine's slot", async () => {
    const { url, sim } = await serveSim({ tpotMs: 5, outputTokens: 2000 });
    const { ctx } = context(client(url));
    const controller = new AbortController();
    const pending = runRequest(ctx, job(), controller.signal);
    await eventually(async () => sim.counters().running === 1);
    controller.abort();
    expect(await pending).toBeNull();
    await eventually(async () => sim.counters().running === 0, 5000, 'the slot to be freed');
    expect(sim.counters().aborted).toBe(1);
  });
});

describe('a call that gets no answer', () => {
  it('says the engine could not be reached when nothing listens, and that it dropped the connection when it took the request', async () => {
    const refused = await client(`http://127.0.0.1:${await freePort()}`).call('/v1/chat/completions', job().body);
    expect(refused).toMatchObject({
      kind: 'retry',
      reason: 'connection',
      message: expect.stringMatching(/^could not reach the engine: ECONNREFUSED/),
    });
    // What a stream that fails before its first token looks like: the request is read, the socket reset.
    const server = createServer((req) => req.socket.resetAndDestroy());
    try {
      const dropped = await client(await listenLocal(server)).call('/v1/chat/completions', job().body);
      expect(dropped).toMatchObject({
        kind: 'retry',
        reason: 'connection',
        message: expect.stringMatching(/^the engine closed the connection before it answered: /),
      });
    } finally {
      await closeServer(server);
    }
  });
});

describe('a stream the client gives up on', () => {
  it('is closed, so that the engine stops generating into it', async () => {
    let closed = false;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n');
      res.write('data: <html>not json</html>\n\n');
      // Enough more for the client to parse what came (it parses every 64 KiB, and at the end).
      res.write(`: ${'x'.repeat(70_000)}\n\n`);
      // A real engine would go on generating tokens into this connection.
      const more = setInterval(() => res.write(': still generating\n\n'), 20);
      res.on('close', () => {
        closed = true;
        clearInterval(more);
      });
    });
    try {
      const outcome = await client(await listenLocal(server)).call('/v1/chat/completions', job().body);
      expect(outcome).toMatchObject({ kind: 'retry', reason: 'server_error' });
      await eventually(async () => closed, 5000, 'the engine connection to be closed');
    } finally {
      await closeServer(server);
    }
  });
});
