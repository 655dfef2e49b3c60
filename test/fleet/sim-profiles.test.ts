// The simulator playing engines other than vLLM (--profile), each behaviour as read in that
// engine's source: llama.cpp's llama-server (ggml-org/llama.cpp tools/server/), SGLang
// (sgl-project/sglang python/sglang/srt/), and a bare proxy. See /work/notes/sim-profiles.md.
import { request as httpRequest, Agent, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../fleet/sim/index.ts';
import { startSim, type Sim } from './helpers.ts';

const sims: Simulator[] = [];
const make = (options: SimulatorOptions) => {
  const sim = createSimulator({ models: ['tiny'], ttftMs: 1, tpotMs: 2, outputTokens: 8, ...options });
  sims.push(sim);
  return sim;
};
afterEach(() => {
  for (const sim of sims.splice(0)) sim.close();
});

const post = (sim: Simulator, path: string, body: unknown, signal?: AbortSignal) =>
  sim.fetch(
    new Request(`http://sim${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    }),
  );
const get = (sim: Simulator, path: string) => sim.fetch(new Request(`http://sim${path}`));
const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'tiny', messages: [{ role: 'user', content }], ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('--profile llamacpp (llama-server)', () => {
  it('answers /metrics with 501 not_supported_error unless started with --metrics', async () => {
    // server-context.cpp get_metrics: !params.endpoint_metrics -> ERROR_TYPE_NOT_SUPPORTED.
    const res = await get(make({ profile: 'llamacpp' }), '/metrics');
    expect(res.status).toBe(501);
    expect(await res.json()).toEqual({
      error: {
        code: 501,
        message: 'This server does not support metrics endpoint. Start it with `--metrics`',
        type: 'not_supported_error',
      },
    });
  });

  it('shows busy slots as llamacpp:requests_processing and the queue as llamacpp:requests_deferred, without vllm: gauges', async () => {
    // server-context.cpp get_metrics: gauges requests_processing (n_processing_slots) and requests_deferred (n_tasks_deferred), no labels.
    const sim = make({ profile: 'llamacpp', metrics: true, slots: 2, tpotMs: 20, outputTokens: 40 });
    const abort = new AbortController();
    const pending = Array.from({ length: 5 }, (_, i) => post(sim, '/v1/chat/completions', chat(`q${i}`, { stream: true }), abort.signal));
    await sleep(60);
    const text = await (await get(sim, '/metrics')).text();
    expect(text).toMatch(/^llamacpp:requests_processing 2$/m);
    expect(text).toMatch(/^llamacpp:requests_deferred 3$/m);
    expect(text).not.toContain('vllm:');
    abort.abort();
    await Promise.allSettled(pending);
  });

  it("sends a stream's headers only when a slot starts it: a queued request gets none", async () => {
    // server-context.cpp handle_completions_impl: a stream answers only after rd.next() returns the first result.
    const sim = make({ profile: 'llamacpp', slots: 1, tpotMs: 10, outputTokens: 20 });
    const first = await post(sim, '/v1/chat/completions', chat('first', { stream: true, max_tokens: 20 }));
    let secondAt = 0;
    const second = post(sim, '/v1/chat/completions', chat('second', { stream: true })).then((r) => ((secondAt = Date.now()), r));
    await sleep(60);
    expect(secondAt).toBe(0);
    await first.text();
    const firstDoneAt = Date.now();
    await (await second).text();
    expect(secondAt).toBeGreaterThanOrEqual(firstDoneAt - 5);
  });

  it("refuses a prompt over its slot's share of the context with exceed_context_size_error, the token counts beside it", async () => {
    // server-context.cpp: "request (%d tokens) exceeds the available context size (%d tokens), try increasing it"
    // with n_prompt_tokens and n_ctx (n_ctx / n_parallel) in the error object.
    const sim = make({ profile: 'llamacpp', slots: 8, maxModelLen: 64 });
    const res = await post(sim, '/v1/chat/completions', chat('word '.repeat(100)));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 400, type: 'exceed_context_size_error', n_ctx: 64 });
    expect(body.error.message).toMatch(/^request \(\d+ tokens\) exceeds the available context size \(64 tokens\), try increasing it$/);
    expect(Object.keys(body.error)).toEqual(['code', 'message', 'type', 'n_prompt_tokens', 'n_ctx']);
  });

  it('returns its own non-streamed body: timings last, no vLLM-only fields, no tool_calls when there are none', async () => {
    // server-task.cpp to_json_oaicompat_chat; common/chat.cpp common_chat_msg::to_json_oaicompat.
    const res = await post(make({ profile: 'llamacpp' }), '/v1/chat/completions', chat('hello'));
    const body = (await res.json()) as Record<string, any>;
    expect(Object.keys(body)).toEqual(['choices', 'created', 'model', 'system_fingerprint', 'object', 'usage', 'id', 'timings']);
    expect(Object.keys(body.choices[0])).toEqual(['finish_reason', 'index', 'message']);
    expect(Object.keys(body.choices[0].message)).toEqual(['role', 'content']);
    expect(body.usage.prompt_tokens_details).toEqual({ cached_tokens: 0 });
    expect(body.timings.predicted_n).toBe(body.usage.completion_tokens);
    expect(body.id).toMatch(/^chatcmpl-/);
  });

  it('streams a first delta of role with null content, finish_reason on an empty delta, timings on the last chunk, then [DONE]', async () => {
    // server-task.cpp server_task_result_cmpl_partial::to_json_oaicompat_chat ("initial update") and
    // server_task_result_cmpl_final::to_json_oaicompat_chat_stream.
    const res = await post(make({ profile: 'llamacpp' }), '/v1/chat/completions', chat('hello', { stream: true }));
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.slice('data: '.length));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Record<string, any>);
    expect(chunks[0]?.choices[0].delta).toEqual({ role: 'assistant', content: null });
    const last = chunks.at(-1) as Record<string, any>;
    expect(last.choices[0]).toEqual({ finish_reason: 'stop', index: 0, delta: {} });
    expect(last.timings).toBeDefined();
    expect(events.join('')).not.toContain('stop_reason');
  });

  it('answers /health {"status":"ok"}, and 503 "Loading model" to everything while the model loads', async () => {
    // server-context.cpp get_health; server-http.cpp middleware_server_state.
    expect(await (await get(make({ profile: 'llamacpp' }), '/health')).json()).toEqual({ status: 'ok' });
    const loading = make({ profile: 'llamacpp', loadMs: 10_000 });
    for (const path of ['/health', '/v1/models']) {
      const res = await get(loading, path);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
    }
  });

  it('lists its model as llama-server does: the models list, then one data card owned by llamacpp with meta', async () => {
    // server-context.cpp get_models.
    const body = (await (await get(make({ profile: 'llamacpp' }), '/v1/models')).json()) as Record<string, any>;
    expect(Object.keys(body)).toEqual(['models', 'object', 'data']);
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ id: 'tiny', object: 'model', owned_by: 'llamacpp' });
    expect(body.data[0].meta).toHaveProperty('n_ctx_train');
  });

  it('answers an unknown path and a bad key in its own error shape', async () => {
    // server-http.cpp set_error_handler ("File Not Found") and middleware_validate_api_key ("Invalid API Key").
    expect(await (await get(make({ profile: 'llamacpp' }), '/v1/nothing')).json()).toEqual({
      error: { code: 404, message: 'File Not Found', type: 'not_found_error' },
    });
    const locked = make({ profile: 'llamacpp', apiKey: 'k' });
    const res = await post(locked, '/v1/chat/completions', chat('hi'));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } });
    expect((await get(locked, '/v1/models')).status).toBe(200);
  });

  it('fails the chat parse of a request with the same 500 on every retry (--format-error-rate), and a stream with an error event and no [DONE]', async () => {
    // common/chat.cpp common_chat_peg_parse: "Failed to parse input at pos N: <rest>", a server_error 500;
    // streamed, handle_completions_impl writes {"error": ...} and stops without [DONE].
    const sim = make({ profile: 'llamacpp', formatErrorRate: 1 });
    const bodies: unknown[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await post(sim, '/v1/chat/completions', chat('extract the fields', { response_format: { type: 'json_object' } }));
      expect(res.status).toBe(500);
      bodies.push(await res.json());
    }
    expect(bodies[0]).toEqual(bodies[1]);
    expect(bodies[0]).toMatchObject({
      error: { code: 500, type: 'server_error', message: expect.stringMatching(/^Failed to parse input at pos \d+: /) },
    });
    const streamed = await (await post(sim, '/v1/chat/completions', chat('extract the fields', { stream: true }))).text();
    expect(streamed).toMatch(/data: \{"error":\{"code":500,"message":"Failed to parse input at pos \d+: /);
    expect(streamed).not.toContain('[DONE]');
    const clean = await post(make({ profile: 'llamacpp', formatErrorRate: 0 }), '/v1/chat/completions', chat('extract the fields'));
    expect(clean.status).toBe(200);
  });
});

/** One HTTP/1.1 request on the agent's pooled sockets; resolves with the response (its headers) or the socket error. */
function send(
  url: string,
  agent: Agent,
  body: unknown,
): Promise<{ res: IncomingMessage; text: Promise<string> } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      `${url}/v1/chat/completions`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        const text = new Promise<string>((done) => {
          let data = '';
          res.on('data', (c: Buffer) => (data += c.toString()));
          res.on('end', () => done(data));
        });
        resolve({ res, text });
      },
    );
    req.on('error', (error) => resolve({ error }));
    req.end(JSON.stringify(body));
  });
}

describe('--profile llamacpp over a real socket', () => {
  let sim: Sim | undefined;
  afterEach(async () => {
    await sim?.process.stop('SIGKILL');
    sim = undefined;
  });

  it('advertises Keep-Alive yet drops the connection after a stream, so the next request on the pooled socket fails with ECONNRESET before any byte', async () => {
    // cpp-httplib Server::write_response_core writes "Keep-Alive: timeout=5, max=5"; issue 19 measured
    // 27 of 100 sequential calls reset on a reused socket. Here every reuse after a stream is reset.
    sim = await startSim(['--profile', 'llamacpp', '--model', 'tiny']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const first = await send(sim.url, agent, chat('one', { stream: true }));
    if ('error' in first) throw first.error;
    expect(first.res.headers['keep-alive']).toBe('timeout=5, max=5');
    await first.text;
    const second = await send(sim.url, agent, chat('two', { stream: true }));
    expect('error' in second && second.error.code).toBe('ECONNRESET');
    const third = await send(sim.url, agent, chat('three', { stream: true }));
    expect('res' in third && third.res.statusCode).toBe(200);
    agent.destroy();
  });

  it('sends no response headers to a request queued behind a busy slot until the slot starts it', async () => {
    // server-context.cpp handle_completions_impl: headers go with the first result of the task.
    sim = await startSim(['--profile', 'llamacpp', '--model', 'tiny', '--slots', '1', '--tpot-ms', '20', '--output-tokens', '15']);
    const a = new Agent({ keepAlive: false });
    const first = await send(sim.url, a, chat('first', { stream: true, max_tokens: 15 }));
    if ('error' in first) throw first.error;
    const sentAt = Date.now();
    let headersAt = 0;
    const second = send(sim.url, a, chat('second', { stream: true })).then((r) => ((headersAt = Date.now()), r));
    await first.text;
    const firstDoneAt = Date.now();
    const answered = await second;
    if ('error' in answered) throw answered.error;
    expect(firstDoneAt - sentAt).toBeGreaterThan(100);
    expect(headersAt).toBeGreaterThanOrEqual(firstDoneAt - 5);
    await answered.text;
    a.destroy();
  });
});

describe('--profile sglang', () => {
  it('shows sglang:num_running_reqs, sglang:num_queue_reqs and sglang:token_usage labelled by model_name (--enable-metrics)', async () => {
    // srt/metrics/collector.py SchedulerMetricsCollector gauges; /metrics mounted only with --enable-metrics.
    const sim = make({ profile: 'sglang', metrics: true, slots: 1, tpotMs: 20, outputTokens: 40 });
    const abort = new AbortController();
    const pending = [0, 1, 2].map((i) => post(sim, '/v1/chat/completions', chat(`q${i}`, { stream: true }), abort.signal));
    await sleep(60);
    const text = await (await get(sim, '/metrics')).text();
    expect(text).toContain('sglang:num_running_reqs{model_name="tiny"} 1.0');
    expect(text).toContain('sglang:num_queue_reqs{model_name="tiny"} 2.0');
    expect(text).toMatch(/^sglang:token_usage\{model_name="tiny"\} [\d.e-]+$/m);
    expect(text).not.toContain('vllm:');
    abort.abort();
    await Promise.allSettled(pending);
    expect((await get(make({ profile: 'sglang' }), '/metrics')).status).toBe(404);
  });

  it('writes errors as its ErrorResponse, unwrapped: {"object":"error", message, type, param, code}', async () => {
    // entrypoints/openai/serving_base.py create_error_response -> ErrorResponse.model_dump().
    const res = await post(make({ profile: 'sglang' }), '/v1/chat/completions', { ...chat('hi'), model: 'other' });
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['object', 'message', 'type', 'param', 'code']);
    expect(body).toMatchObject({ object: 'error', code: 404 });
  });

  it('names the stop in matched_stop, streams reasoning_content in every delta, and writes no system_fingerprint', async () => {
    // protocol.py ChatCompletionResponseChoice.matched_stop; sse_utils.py StreamDelta (reasoning_content always serialized).
    const sim = make({ profile: 'sglang' });
    const body = (await (await post(sim, '/v1/chat/completions', chat('hello', { stop: ['fit'] }))).json()) as Record<string, any>;
    expect(body.choices[0]).toHaveProperty('matched_stop');
    expect(body).not.toHaveProperty('system_fingerprint');
    expect(body.choices[0]).not.toHaveProperty('stop_reason');
    const streamed = await (await post(sim, '/v1/chat/completions', chat('hello', { stream: true }))).text();
    const chunks = streamed
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)) as Record<string, any>);
    expect(chunks.every((c) => c.choices.every((ch: Record<string, any>) => 'reasoning_content' in ch.delta && 'matched_stop' in ch))).toBe(
      true,
    );
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('stop');
    expect(streamed).not.toContain('system_fingerprint');
  });
});

describe('--profile bare (a proxy in front of an engine)', () => {
  it('has no /metrics at all, but serves the OpenAI routes and /health', async () => {
    const sim = make({ profile: 'bare' });
    expect((await get(sim, '/metrics')).status).toBe(404);
    expect((await get(sim, '/health')).status).toBe(200);
    expect((await post(sim, '/v1/chat/completions', chat('hi'))).status).toBe(200);
  });
});
