// The simulator against vLLM V1's documented behaviour (vLLM main, 2026-05-19, commit 28be48f of
// local-inference-lab/vllm); each describe names the vLLM file it follows. See /work/notes/sim.md.
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../fleet/sim/index.ts';
import { eventually } from './helpers.ts';

const sims: Simulator[] = [];
afterEach(() => {
  for (const sim of sims.splice(0)) sim.close();
});

const simulator = (options: SimulatorOptions = {}) => {
  const sim = createSimulator({ ttftMs: 1, tpotMs: 1, outputTokens: 12, ...options });
  sims.push(sim);
  return sim;
};

const post = (sim: Simulator, path: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  sim.fetch(
    new Request(`http://sim${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
      signal,
    }),
  );

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'sim-model',
  messages: [{ role: 'user', content: 'Summarise this candidate.' }],
  ...extra,
});
const prompt = (tokens: number, i = 0) => `${i} `.padEnd(tokens * 4, 'abcd');

/** The JSON events of a stream, [DONE] as the string. */
async function events(response: Response): Promise<(Record<string, any> | string)[]> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => (block === 'data: [DONE]' ? '[DONE]' : JSON.parse(block.slice(6))));
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('scheduler: token budget and chunked prefill (v1/core/sched/scheduler.py schedule)', () => {
  it('admits waiting requests only while the step token budget lasts, so requests wait with running far below max_num_seqs', async () => {
    const sim = simulator({ slots: 64, maxNumBatchedTokens: 1024, tpotMs: 5, outputTokens: 400 });
    const controller = new AbortController();
    await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        post(
          sim,
          '/v1/chat/completions',
          chat({ messages: [{ role: 'user', content: prompt(300, i) }], stream: true }),
          {},
          controller.signal,
        ),
      ),
    );
    // ~300-token prompts in a 1,024-token budget: three admissions a step, not 64 at once.
    const early = sim.counters();
    expect(early.waiting).toBeGreaterThan(0);
    expect(early.running).toBeLessThan(32);
    await eventually(async () => sim.counters().running === 64, 10_000, 'every request admitted');
    expect(sim.counters().waiting).toBe(0);
    controller.abort();
  });

  it('gives the first token only after the whole prompt is prefilled, chunk by chunk', async () => {
    const sim = simulator({ maxNumBatchedTokens: 512, tpotMs: 20, ttftMs: 1 });
    const started = performance.now();
    const res = await post(sim, '/v1/completions', { model: 'sim-model', prompt: prompt(2000), max_tokens: 2, stream: true });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // 2,000 prompt tokens in chunks of 512: four steps of prefill before the first token.
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 20 - 5);
    await reader.cancel();
  });

  it('preempts the most recently admitted request when the KV cache is full, and still completes every request', async () => {
    const sim = simulator({ slots: 8, maxModelLen: 256, kvCacheTokens: 256, tpotMs: 2, outputTokens: 200 });
    const bodies = Array.from({ length: 4 }, (_, i) =>
      chat({ messages: [{ role: 'user', content: prompt(100, i) }], max_tokens: 120, temperature: i }),
    );
    const replies = (await Promise.all(bodies.map(async (b) => (await post(sim, '/v1/chat/completions', b)).json()))) as {
      usage: { completion_tokens: number };
    }[];
    expect(replies.map((r) => r.usage.completion_tokens)).toEqual(bodies.map(() => 120));
    expect(sim.counters().preemptions).toBeGreaterThan(0);
    const text = await (await sim.fetch(new Request('http://sim/metrics'))).text();
    expect(metric(text, 'vllm:num_preemptions_total')).toBe(sim.counters().preemptions);
  });
});

describe('models and max_model_len (openai/models/serving.py, renderers/params.py)', () => {
  it('lists the served names with root = the source path, max_model_len and a permission entry', async () => {
    const sim = simulator({ source: 'org/Model-7B', models: ['a', 'b'], maxModelLen: 4096 });
    const list = (await (await sim.fetch(new Request('http://sim/v1/models'))).json()) as { data: Record<string, unknown>[] };
    expect(list.data.map((m) => [m.id, m.root, m.max_model_len, m.owned_by])).toEqual([
      ['a', 'org/Model-7B', 4096, 'vllm'],
      ['b', 'org/Model-7B', 4096, 'vllm'],
    ]);
    expect(Object.keys(list.data[0] ?? {})).toEqual([
      'id',
      'object',
      'created',
      'owned_by',
      'root',
      'parent',
      'max_model_len',
      'permission',
    ]);
    expect((list.data[0]?.permission as Record<string, unknown>[] | undefined)?.[0]).toMatchObject({
      object: 'model_permission',
      allow_sampling: true,
      organization: '*',
    });
  });

  it('serves the source path as the model name when no served name is given, and answers with the first served name', async () => {
    const bySource = simulator({ source: 'org/Model-7B' });
    expect((await post(bySource, '/v1/chat/completions', chat({ model: 'org/Model-7B' }))).status).toBe(200);
    const aliases = simulator({ source: 'org/Model-7B', models: ['a', 'b'] });
    const body = (await (await post(aliases, '/v1/chat/completions', chat({ model: 'b' }))).json()) as { model: string };
    expect(body.model).toBe('a');
    const noModel = (await (await post(aliases, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] })).json()) as {
      model: string;
    };
    expect(noModel.model).toBe('a');
  });

  it("refuses a prompt longer than max_model_len minus max_tokens with vLLM's 400, before any stream starts", async () => {
    const sim = simulator({ maxModelLen: 1000 });
    const res = await post(
      sim,
      '/v1/chat/completions',
      chat({ messages: [{ role: 'user', content: prompt(980) }], max_tokens: 100, stream: true }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        message:
          "This model's maximum context length is 1000 tokens. However, you requested 100 output tokens and your prompt contains at least 901 input tokens, " +
          'for a total of at least 1001 tokens. Please reduce the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=901)',
        type: 'BadRequestError',
        param: 'input_tokens',
        code: 400,
      },
    });
    const tooMany = await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'hi', max_tokens: 5000 });
    expect(((await tooMany.json()) as { error: { message: string } }).error.message).toBe(
      'max_tokens=5000 cannot be greater than max_model_len=max_total_tokens=1000. Please request fewer output tokens. (parameter=max_tokens, value=5000)',
    );
  });
});

describe('/metrics (v1/metrics/loggers.py PrometheusStatLogger)', () => {
  it('labels every series with model_name and engine, with the KV cache gauge and request_success by finished_reason', async () => {
    const sim = simulator({ models: ['m'] });
    await post(sim, '/v1/chat/completions', chat({ model: 'm', max_tokens: 2 }));
    const text = await (await sim.fetch(new Request('http://sim/metrics'))).text();
    expect(text).toMatch(/^vllm:num_requests_running\{model_name="m",engine="0"\} 0\.0$/m);
    expect(text).toMatch(/^vllm:kv_cache_usage_perc\{model_name="m",engine="0"\} 0\.0$/m);
    expect(text).toMatch(/^vllm:num_preemptions_total\{model_name="m",engine="0"\} 0\.0$/m);
    expect(text).toMatch(/^vllm:generation_tokens_total\{model_name="m",engine="0"\} 2\.0$/m);
    expect(text).toMatch(/^vllm:request_success_total\{model_name="m",engine="0",finished_reason="length"\} 1\.0$/m);
    expect(text).toMatch(/^vllm:request_success_total\{model_name="m",engine="0",finished_reason="abort"\} 0\.0$/m);
  });

  it('answers 200 without any vllm: series under --disable-log-stats', async () => {
    const sim = simulator({ disableLogStats: true });
    const res = await sim.fetch(new Request('http://sim/metrics'));
    expect(res.status).toBe(200);
    expect(await res.text()).not.toMatch(/^vllm:/m);
  });
});

describe('replies (chat_completion/serving.py, completion/serving.py, protocol.py)', () => {
  it("serializes a non-streamed chat body field for field, in vLLM's order", async () => {
    const sim = simulator();
    const body = (await (await post(sim, '/v1/chat/completions', chat())).json()) as Record<string, any>;
    expect(Object.keys(body)).toEqual([
      'id',
      'object',
      'created',
      'model',
      'choices',
      'service_tier',
      'system_fingerprint',
      'usage',
      'prompt_logprobs',
      'prompt_token_ids',
      'prompt_text',
      'kv_transfer_params',
    ]);
    expect(Object.keys(body.choices[0])).toEqual(['index', 'message', 'logprobs', 'finish_reason', 'stop_reason', 'token_ids']);
    expect(Object.keys(body.choices[0].message)).toEqual([
      'role',
      'content',
      'refusal',
      'annotations',
      'audio',
      'function_call',
      'tool_calls',
      'reasoning',
    ]);
    expect(body.system_fingerprint).toMatch(/^vllm-/);
    const completion = (await (await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'hi' })).json()) as Record<string, any>;
    expect(Object.keys(completion)).toEqual([
      'id',
      'object',
      'created',
      'model',
      'choices',
      'service_tier',
      'system_fingerprint',
      'usage',
      'kv_transfer_params',
    ]);
    expect(Object.keys(completion.choices[0])).toEqual([
      'index',
      'text',
      'logprobs',
      'finish_reason',
      'stop_reason',
      'token_ids',
      'prompt_logprobs',
      'prompt_token_ids',
    ]);
  });

  it('sends system_fingerprint only on the final usage chunk, or on the finishing chunk without usage', async () => {
    const sim = simulator();
    const withUsage = await events(
      await post(sim, '/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } })),
    );
    const chunks = withUsage.filter((e): e is Record<string, any> => typeof e !== 'string');
    expect(chunks.filter((c) => 'system_fingerprint' in c)).toEqual([chunks.at(-1)]);
    expect(chunks.at(-1)?.usage).toBeDefined();
    const without = (await events(await post(sim, '/v1/chat/completions', chat({ stream: true })))).filter(
      (e): e is Record<string, any> => typeof e !== 'string',
    );
    expect(without.filter((c) => 'system_fingerprint' in c).map((c) => c.choices[0].finish_reason)).toEqual(['stop']);
  });

  it("streams a reasoning model's reasoning before its content, and returns message.reasoning", async () => {
    const sim = simulator({ reasoningParser: 'qwen3' });
    const plain = (await (await post(sim, '/v1/chat/completions', chat())).json()) as {
      choices: { message: { reasoning: string; content: string } }[];
    };
    expect(plain.choices[0]?.message.reasoning).toMatch(/\w/);
    const deltas = (await events(await post(sim, '/v1/chat/completions', chat({ stream: true }))))
      .filter((e): e is Record<string, any> => typeof e !== 'string')
      .map((c) => c.choices[0].delta);
    const kinds = deltas.slice(1).map((d) => ('reasoning' in d ? 'reasoning' : 'content'));
    expect(kinds.indexOf('content')).toBeGreaterThan(0);
    expect(kinds.lastIndexOf('reasoning')).toBeLessThan(kinds.indexOf('content'));
    expect(
      deltas
        .filter((d) => 'reasoning' in d)
        .map((d) => d.reasoning)
        .join(''),
    ).toBe(plain.choices[0]?.message.reasoning);
  });

  it('answers n choices with their indexes, interleaved in the stream', async () => {
    const sim = simulator({ outputTokens: 8 });
    const plain = (await (await post(sim, '/v1/chat/completions', chat({ n: 3 }))).json()) as {
      choices: { index: number }[];
      usage: { completion_tokens: number };
    };
    expect(plain.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const chunks = (await events(await post(sim, '/v1/chat/completions', chat({ n: 3, stream: true })))).filter(
      (e): e is Record<string, any> => typeof e !== 'string',
    );
    const order = chunks.map((c) => c.choices[0].index);
    expect(new Set(order)).toEqual(new Set([0, 1, 2]));
    expect(order.slice(3, 6).sort()).toEqual([0, 1, 2]);
  });

  it('stops at a stop string with finish_reason stop and the string as stop_reason', async () => {
    const sim = simulator({ outputTokens: 40 });
    const base = (await (await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'go', max_tokens: 40 })).json()) as {
      choices: { text: string }[];
    };
    const word = base.choices[0]?.text.split(' ')[3] as string;
    const stopped = (await (
      await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'go', max_tokens: 40, stop: [` ${word}`] })
    ).json()) as { choices: { text: string; finish_reason: string; stop_reason: string }[] };
    expect(stopped.choices[0]).toMatchObject({ finish_reason: 'stop', stop_reason: ` ${word}` });
    expect(stopped.choices[0]?.text).not.toContain(` ${word}`);
  });

  it('serves prompt_logprobs non-streamed and refuses them with stream: true', async () => {
    const sim = simulator();
    const plain = (await (await post(sim, '/v1/chat/completions', chat({ prompt_logprobs: 1 }))).json()) as { prompt_logprobs: unknown[] };
    expect(plain.prompt_logprobs[0]).toBeNull();
    expect(plain.prompt_logprobs.length).toBeGreaterThan(1);
    const res = await post(sim, '/v1/chat/completions', chat({ prompt_logprobs: 1, stream: true }));
    expect(res.status).toBe(400);
    const error = ((await res.json()) as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ type: 'Bad Request', param: 'prompt_logprobs', code: 400 });
    expect(error.message).toContain(
      "'msg': 'Value error, `prompt_logprobs` are not available when `stream=True`. (parameter=prompt_logprobs)'",
    );
  });

  it('refuses beam search with stream on completions', async () => {
    const sim = simulator();
    const res = await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'hi', use_beam_search: true, stream: true });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { message: 'Streaming is not currently supported with beam search', type: 'BadRequestError', param: null, code: 400 },
    });
  });

  it('returns logprobs content when asked', async () => {
    const sim = simulator();
    const body = (await (await post(sim, '/v1/chat/completions', chat({ logprobs: true, top_logprobs: 2, max_tokens: 3 }))).json()) as {
      choices: { logprobs: { content: { token: string; top_logprobs: unknown[] }[] } }[];
    };
    expect(body.choices[0]?.logprobs.content).toHaveLength(3);
    expect(body.choices[0]?.logprobs.content[0]?.top_logprobs).toHaveLength(2);
  });

  it('reports logprobs over --max-logprobs as an error event after the 200, then [DONE]', async () => {
    const sim = simulator({ maxLogprobs: 5 });
    const res = await post(sim, '/v1/chat/completions', chat({ logprobs: true, top_logprobs: 8, stream: true }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(
      'data: {"error": {"message": "Requested sample logprobs of 8, which is greater than max allowed: 5 (parameter=logprobs, value=8)", "type": "BadRequestError", "param": "logprobs", "code": 400}}\n\ndata: [DONE]\n\n',
    );
    const plain = await post(sim, '/v1/chat/completions', chat({ logprobs: true, top_logprobs: 8 }));
    expect(plain.status).toBe(400);
  });

  it('encodes embeddings as base64 floats, and as application/octet-stream for bytes', async () => {
    const sim = simulator({ embeddingDim: 4 });
    const floats = (await (await post(sim, '/v1/embeddings', { model: 'sim-model', input: 'x' })).json()) as {
      data: { embedding: number[] }[];
    };
    const b64 = (await (await post(sim, '/v1/embeddings', { model: 'sim-model', input: 'x', encoding_format: 'base64' })).json()) as {
      data: { embedding: string }[];
    };
    const decoded = Array.from(new Float32Array(Uint8Array.from(atob(b64.data[0]?.embedding ?? ''), (c) => c.charCodeAt(0)).buffer));
    for (const [i, v] of decoded.entries()) expect(v).toBeCloseTo(floats.data[0]?.embedding[i] ?? Number.NaN, 5);
    const bytes = await post(sim, '/v1/embeddings', { model: 'sim-model', input: 'x', encoding_format: 'bytes' });
    expect(bytes.headers.get('content-type')).toBe('application/octet-stream');
    expect((await bytes.arrayBuffer()).byteLength).toBe(16);
    expect(JSON.parse(bytes.headers.get('metadata') ?? '{}')).toMatchObject({
      data: [{ index: 0, embed_dtype: 'float32', start: 0, end: 16, shape: [4] }],
    });
  });
});

describe('finish_reason "abort" (v1/engine/core.py _handle_shutdown, shutdown_timeout=0)', () => {
  it('ends every stream in flight with finish_reason abort, the usage chunk and [DONE] on close()', async () => {
    const sim = createSimulator({ ttftMs: 1, tpotMs: 5, outputTokens: 400 });
    const res = await post(sim, '/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    sim.close();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const tail = text.split('\n\n').filter(Boolean).slice(-3);
    expect(JSON.parse(tail[0]?.slice(6) ?? '{}').choices[0]).toMatchObject({ delta: { content: '' }, finish_reason: 'abort' });
    expect(JSON.parse(tail[1]?.slice(6) ?? '{}').usage.completion_tokens).toBeGreaterThan(0);
    expect(tail[2]).toBe('data: [DONE]');
  });

  it('aborts streams midway under --abort-rate', async () => {
    const sim = simulator({ abortRate: 1, outputTokens: 30 });
    const body = (await (await post(sim, '/v1/chat/completions', chat())).json()) as { choices: { finish_reason: string }[] };
    expect(body.choices[0]?.finish_reason).toBe('abort');
  });
});

describe('request ids (engine/serving.py _base_request_id, server_utils.py XRequestIdMiddleware)', () => {
  it("sends no x-request-id header unless --enable-request-id-headers, and builds the response id from the client's X-Request-Id", async () => {
    const plainSim = simulator();
    const res = await post(plainSim, '/v1/chat/completions', chat(), { 'x-request-id': 'req-42' });
    expect(res.headers.get('x-request-id')).toBeNull();
    expect(((await res.json()) as { id: string }).id).toBe('chatcmpl-req-42');
    const echoing = simulator({ enableRequestIdHeaders: true });
    expect(
      (await post(echoing, '/v1/completions', { model: 'sim-model', prompt: 'hi' }, { 'x-request-id': 'req-43' })).headers.get(
        'x-request-id',
      ),
    ).toBe('req-43');
  });
});

describe('--api-key (server_utils.py AuthenticationMiddleware)', () => {
  it('answers /v1/* with 401 without the bearer key, and keeps /health and /metrics open', async () => {
    const sim = simulator({ apiKey: 'sekret' });
    const denied = await post(sim, '/v1/chat/completions', chat());
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual({ error: 'Unauthorized' });
    expect((await sim.fetch(new Request('http://sim/v1/models'))).status).toBe(401);
    expect((await post(sim, '/v1/chat/completions', chat(), { authorization: 'Bearer sekret' })).status).toBe(200);
    expect((await sim.fetch(new Request('http://sim/health'))).status).toBe(200);
    expect((await sim.fetch(new Request('http://sim/metrics'))).status).toBe(200);
  });
});
