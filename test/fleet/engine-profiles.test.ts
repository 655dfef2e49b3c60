import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngineClient, type EngineClientOptions } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import type { EngineOutcome } from '../../fleet/engine/outcome.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { runRequest, type Job } from '../../fleet/worker/run-request.ts';
import type { RequestResult } from '../../schema/index.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { serveSimulator, startSim, type ServedSimulator, type Sim } from './helpers.ts';

/*
 * The engine client against engines other than vLLM, played by the simulator's profiles
 * (fleet/sim/llamacpp.ts, sglang.ts: llama.cpp's tools/server/, SGLang's srt/entrypoints/openai/)
 * and, where a timing must be exact, by a small local server doing what the engine does.
 */

const watchdog = createWatchdog(20);
afterAll(() => watchdog.close());

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((stop) => stop()));
});

const served = async (options: Parameters<typeof serveSimulator>[0]): Promise<ServedSimulator> => {
  const engine = await serveSimulator({ models: ['tiny'], ttftMs: 1, tpotMs: 2, outputTokens: 8, ...options });
  cleanups.push(() => engine.close());
  return engine;
};
const spawned = async (args: string[]): Promise<Sim> => {
  const sim = await startSim(['--model', 'tiny', ...args]);
  cleanups.push(() => sim.process.stop('SIGKILL'));
  return sim;
};
const local = async (server: Server) => {
  cleanups.push(() => closeServer(server));
  return listenLocal(server);
};

const client = (baseUrl: string, extra: Partial<EngineClientOptions> = {}) =>
  createEngineClient({ baseUrl, watchdog, connectTimeoutMs: 5000, firstTokenTimeoutMs: 5000, stallTimeoutMs: 5000, ...extra });

const chat = (content = 'hello', extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }], ...extra });
const job = (body = chat(), id = 1): Job => ({
  id,
  rangeId: id,
  batchId: 'batch_p',
  line: id,
  model: 'tiny',
  endpoint: '/v1/chat/completions',
  body,
});

/** Runs a job with `maxRetries`; returns what the worker would store and the engine errors it counted. */
async function run(engine: ReturnType<typeof client>, j: Job, maxRetries = 4, extra: { onFirstByte?: (job: Job) => void } = {}) {
  const errors: EngineOutcome[] = [];
  const gate = createEngineGate({ health: () => engine.health(), probeMs: 20 });
  const result = (await runRequest(
    { client: engine, gate, maxRetries, backoff: { baseMs: 1, maxMs: 5 }, onEngineError: (o) => errors.push(o), ...extra },
    j,
    new AbortController().signal,
  )) as RequestResult;
  gate.close();
  return { result, errors };
}

/** The keys of a JSON value, nested, in order: a body's shape without its values. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value && typeof value === 'object')
    return Object.entries(value).map(([k, v]) => [k, k === 'timings' || k === 'usage' ? Object.keys(v as object) : shape(v)]);
  return typeof value;
}

describe('reassembled bodies are what each engine returns without streaming', () => {
  it("writes llama-server's fields (timings, no vLLM nulls) and says which profile it chose and why", async () => {
    const { url } = await served({ profile: 'llamacpp' });
    const notes: [string, Record<string, unknown>][] = [];
    const engine = client(url, { onNote: (message, fields) => notes.push([message, fields]) });
    const outcome = await engine.call('/v1/chat/completions', chat());
    const plain = await (
      await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat() })
    ).json();
    expect(outcome.kind).toBe('ok');
    if (outcome.kind !== 'ok') return;
    expect(shape(outcome.body)).toEqual(shape(plain));
    expect(outcome.body).toHaveProperty('timings');
    expect(JSON.stringify(outcome.body)).not.toMatch(/stop_reason|token_ids|"refusal"|"tool_calls":\[\]/);
    expect(engine.profile).toBe('llamacpp');
    expect(notes).toEqual([
      [
        expect.stringContaining('profile is llamacpp'),
        expect.objectContaining({ profile: 'llamacpp', why: expect.stringContaining('owned_by "llamacpp"') }),
      ],
    ]);
  });

  it("writes SGLang's fields (matched_stop, metadata) and nothing of vLLM's", async () => {
    const { url } = await served({ profile: 'sglang' });
    const engine = client(url);
    const outcome = await engine.call('/v1/chat/completions', chat());
    const plain = await (
      await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat() })
    ).json();
    expect(outcome.kind).toBe('ok');
    if (outcome.kind !== 'ok') return;
    expect(engine.profile).toBe('sglang');
    expect(shape(outcome.body)).toEqual(shape(plain));
    expect(JSON.stringify(outcome.body)).not.toMatch(/stop_reason|token_ids|"refusal"/);
  });

  it('keeps the profile ENGINE_PROFILE sets, whatever the cards say', async () => {
    const { url } = await served({ profile: 'llamacpp' });
    const engine = client(url, { profile: 'openai' });
    const outcome = await engine.call('/v1/chat/completions', chat());
    expect(engine.profile).toBe('openai');
    expect(outcome).toMatchObject({
      kind: 'ok',
      body: {
        id: expect.any(String),
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant' } }],
        timings: expect.any(Object),
      },
    });
    expect(Object.keys((outcome as { body: object }).body).slice(0, 4)).toEqual(['id', 'object', 'created', 'model']);
  });
});

describe('an engine that closes its connections after each response (llama-server)', () => {
  it('loses no call to a reset of a pooled connection, where a plain pooled fetch loses many', async () => {
    const sim = await spawned(['--profile', 'llamacpp']);
    const calls = 30;
    // Before: the runtime's pooled fetch, as the client used it (every reuse after a stream is reset).
    let resetBefore = 0;
    for (let i = 0; i < calls; i++) {
      try {
        await (
          await fetch(`${sim.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: chat(`c${i}`, { stream: true }),
          })
        ).text();
      } catch {
        resetBefore++;
      }
    }
    expect(resetBefore).toBeGreaterThan(calls / 4);
    // After: known by its profile, and learnt from the resets of an engine of unknown profile.
    for (const profile of ['auto', 'openai'] as const) {
      const notes: string[] = [];
      const engine = client(sim.url, { profile, onNote: (message) => notes.push(message) });
      const outcomes = [];
      for (let i = 0; i < calls; i++) outcomes.push(await engine.call('/v1/chat/completions', chat(`c${i}`)));
      expect(outcomes.filter((o) => o.kind !== 'ok')).toEqual([]);
      if (profile === 'openai') expect(notes).toContainEqual(expect.stringContaining('closes its connections after each response'));
    }
  });

  it('waits for a request queued behind busy slots without spending an attempt, and says when the engine starts it', async () => {
    // llama-server sends a stream's headers only when a slot starts it (handle_completions_impl).
    const sim = await spawned(['--profile', 'llamacpp', '--slots', '1', '--tpot-ms', '20', '--output-tokens', '20']);
    const engine = client(sim.url, { connectTimeoutMs: 100, firstTokenTimeoutMs: 5000 });
    const started: number[] = [];
    const jobs = [1, 2, 3].map((id) => run(engine, job(chat(`q${id}`), id), 0, { onFirstByte: (j) => started.push(j.id) }));
    const results = await Promise.all(jobs);
    expect(results.map((r) => r.result.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(started.sort()).toEqual([1, 2, 3]);
  });
});

describe('engine health under load', () => {
  it('does not call the engine unreachable when /health is slow while streams are flowing', async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      if (req.url === '/health') return void setTimeout(() => res.end(), 3000);
      if (req.url === '/v1/models') return void res.end('{"data":[]}');
      req.resume();
      const n = ++calls;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: string, finish = 'null') =>
        `data: {"id":"x${n}","object":"chat.completion.chunk","created":1,"model":"tiny","choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;
      // The first call is a long stream that keeps flowing; the second breaks before [DONE].
      if (n === 1) {
        let i = 0;
        const timer = setInterval(() => {
          if (++i < 40) return void res.write(chunk('{"content":"a"}'));
          clearInterval(timer);
          res.end(`${chunk('{}', '"stop"')}data: [DONE]\n\n`);
        }, 100);
        return;
      }
      if (n === 2) return void res.end(chunk('{"content":"b"}'));
      res.end(`${chunk('{"content":"c"}')}${chunk('{}', '"stop"')}data: [DONE]\n\n`);
    });
    const engine = client(await local(server), { profile: 'openai' });
    const downs: boolean[] = [];
    const gate = createEngineGate({ health: () => engine.health(), probeMs: 20, onChange: (up) => downs.push(up) });
    const ctx = { client: engine, gate, maxRetries: 2, backoff: { baseMs: 1, maxMs: 5 } };
    const long = runRequest(ctx, job(chat('long'), 1), new AbortController().signal);
    await new Promise((r) => setTimeout(r, 300));
    const broken = (await runRequest(ctx, job(chat('short'), 2), new AbortController().signal)) as RequestResult;
    expect(broken.status).toBe('succeeded');
    expect(((await long) as RequestResult).status).toBe('succeeded');
    expect(downs).toEqual([]);
    gate.close();
  });
});

describe('errors the engine gives every time', () => {
  it('stops regenerating a request the engine fails identically twice, keeping its status and body', async () => {
    // llama-server's chat parser fails the same reply at the same position on every retry (common/chat.cpp).
    const { url } = await served({ profile: 'llamacpp', formatErrorRate: 1 });
    let sent = 0;
    const engine = client(url, {
      fetch: ((input: string | URL | Request, init?: RequestInit) => (
        String(input).endsWith('/completions') && sent++, fetch(input, init)
      )) as typeof fetch,
    });
    const { result } = await run(engine, job(chat('extract the fields')), 4);
    expect(sent).toBe(2);
    expect(result).toMatchObject({
      status: 'failed',
      statusCode: 500,
      error: { code: 'engine_error_repeated', message: expect.stringContaining('same error twice in a row') },
    });
    expect(JSON.parse(result.response ?? 'null')).toMatchObject({
      error: { code: 500, type: 'server_error', message: expect.stringMatching(/^Failed to parse input at pos \d+/) },
    });
  });

  it("keeps the engine's last status and whole body when a request fails after its retries", async () => {
    const long = 'x'.repeat(1000);
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/v1/models') return void res.end('{"data":[]}');
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `overloaded ${long}`, type: 'unavailable_error', code: 503 } }));
    });
    const { result } = await run(client(await local(server)), job(), 2);
    expect(result).toMatchObject({
      status: 'failed',
      statusCode: 503,
      error: { code: 'engine_error', message: expect.stringContaining('failed this request 3 times') },
    });
    expect(JSON.parse(result.response ?? 'null')).toEqual({
      error: { message: `overloaded ${long}`, type: 'unavailable_error', code: 503 },
    });
  });
});
