import { afterEach, describe, expect, it } from 'vitest';
import { createAssembler } from '../../fleet/engine/reassemble.ts';
import { createSimulator, type Simulator } from '../../fleet/sim/index.ts';
import { eventually } from './helpers.ts';

const sims: Simulator[] = [];
afterEach(() => {
  for (const sim of sims.splice(0)) sim.close();
});

const simulator = (options: Parameters<typeof createSimulator>[0] = {}) => {
  const sim = createSimulator({ ttftMs: 1, tpotMs: 1, outputTokens: 12, ...options });
  sims.push(sim);
  return sim;
};

const post = (sim: Simulator, path: string, body: unknown) =>
  sim.fetch(
    new Request(`http://sim${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    }),
  );

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'sim-model',
  messages: [{ role: 'user', content: 'Summarise this candidate.' }],
  ...extra,
});

/** The data of each SSE event of a streamed reply. */
async function events(response: Response): Promise<string[]> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      return block.slice(6);
    });
}

const withoutIds = (body: Record<string, unknown>) => ({ ...body, id: null, created: null });

describe('the vLLM simulator', () => {
  it('answers the same body with the same reply, and a different body with another', async () => {
    const sim = simulator();
    const a = (await (await post(sim, '/v1/chat/completions', chat())).json()) as Record<string, unknown>;
    const b = (await (await post(sim, '/v1/chat/completions', chat())).json()) as Record<string, unknown>;
    const c = (await (await post(sim, '/v1/chat/completions', chat({ temperature: 0.3 }))).json()) as Record<string, unknown>;
    expect(withoutIds(a)).toEqual(withoutIds(b));
    expect(a.id).not.toEqual(b.id);
    expect(JSON.stringify(c.choices)).not.toEqual(JSON.stringify(a.choices));
    expect(a).toMatchObject({
      object: 'chat.completion',
      model: 'sim-model',
      choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
    });
  });

  it('streams a role chunk, one chunk per token, the usage chunk and [DONE], like vLLM', async () => {
    const sim = simulator();
    const res = await post(sim, '/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }));
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const data = await events(res);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map(
      (d) =>
        JSON.parse(d) as {
          object: string;
          choices: { delta: Record<string, unknown>; finish_reason: string | null }[];
          usage?: Record<string, number>;
        },
    );
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    const usage = chunks.at(-1);
    expect(usage?.choices).toEqual([]);
    const tokens = chunks.slice(1, -1);
    expect(usage?.usage?.completion_tokens).toBe(tokens.length);
    expect(tokens.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(tokens.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
  });

  it('streams the same content it returns without streaming, so reassembly gives the ordinary body', async () => {
    const sim = simulator();
    for (const extra of [
      {},
      { response_format: { type: 'json_object' } },
      {
        tools: [
          {
            type: 'function',
            function: {
              name: 'lookup',
              parameters: { type: 'object', properties: { level: { type: 'string' }, years: { type: 'integer' } } },
            },
          },
        ],
      },
    ]) {
      const plain = (await (await post(sim, '/v1/chat/completions', chat(extra))).json()) as Record<string, unknown>;
      const assembler = createAssembler('chat');
      const data = await events(
        await post(sim, '/v1/chat/completions', chat({ ...extra, stream: true, stream_options: { include_usage: true } })),
      );
      for (const d of data.slice(0, -1)) assembler.push(JSON.parse(d) as Record<string, unknown>);
      expect(withoutIds(assembler.result())).toEqual(withoutIds(plain));
    }
  });

  it('streams text completions with usage', async () => {
    const sim = simulator();
    const plain = (await (
      await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'Once upon a time', max_tokens: 5 })
    ).json()) as Record<string, unknown>;
    expect(plain).toMatchObject({
      object: 'text_completion',
      choices: [{ finish_reason: expect.stringMatching(/stop|length/) }],
      usage: { completion_tokens: expect.any(Number) },
    });
    const assembler = createAssembler('completion');
    const data = await events(
      await post(sim, '/v1/completions', {
        model: 'sim-model',
        prompt: 'Once upon a time',
        max_tokens: 5,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    for (const d of data.slice(0, -1)) assembler.push(JSON.parse(d) as Record<string, unknown>);
    expect(withoutIds(assembler.result())).toEqual(withoutIds(plain));
  });

  it('caps the output at max_tokens with finish_reason length', async () => {
    const sim = simulator({ outputTokens: 50 });
    const body = (await (await post(sim, '/v1/chat/completions', chat({ max_tokens: 3 }))).json()) as {
      choices: { finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    expect(body.usage.completion_tokens).toBe(3);
    expect(body.choices[0]?.finish_reason).toBe('length');
  });

  it('answers json_object and json_schema formats with valid JSON', async () => {
    const sim = simulator();
    const schema = {
      type: 'object',
      properties: { score: { type: 'integer' }, why: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
      required: ['score', 'why'],
    };
    for (const format of [{ type: 'json_object' }, { type: 'json_schema', json_schema: { name: 'rating', schema } }]) {
      const body = (await (await post(sim, '/v1/chat/completions', chat({ response_format: format, max_tokens: 8 }))).json()) as {
        choices: { message: { content: string } }[];
      };
      const content = JSON.parse(body.choices[0]?.message.content ?? 'null') as Record<string, unknown>;
      expect(content).toBeTypeOf('object');
      if (format.type === 'json_schema') {
        expect(content.score).toBeTypeOf('number');
        expect(content.why).toBeTypeOf('string');
      }
    }
  });

  it("answers an unknown model with a 404 and a bad body with a 400, in vLLM's error shape", async () => {
    const sim = simulator();
    const missing = await post(sim, '/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'hi' }] });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { message: 'The model `nope` does not exist.', type: 'NotFoundError', param: 'model', code: 404 },
    });
    for (const bad of ['{not json', chat({ max_tokens: -1 }), { model: 'sim-model' }]) {
      const res = await post(sim, '/v1/chat/completions', bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { type: string } }).error.type).toMatch(/^(Bad Request|BadRequestError)$/);
    }
  });

  it('returns deterministic unit-length embeddings', async () => {
    const sim = simulator({ models: ['sim-embed'], embeddingDim: 8 });
    const a = (await (await post(sim, '/v1/embeddings', { model: 'sim-embed', input: ['first', 'second'] })).json()) as {
      data: { embedding: number[]; index: number }[];
      usage: { prompt_tokens: number };
    };
    const b = (await (await post(sim, '/v1/embeddings', { model: 'sim-embed', input: 'first' })).json()) as {
      data: { embedding: number[] }[];
    };
    expect(a.data.map((d) => d.index)).toEqual([0, 1]);
    expect(a.data[0]?.embedding).toEqual(b.data[0]?.embedding);
    expect(a.data[0]?.embedding).not.toEqual(a.data[1]?.embedding);
    const norm = Math.sqrt((a.data[0]?.embedding ?? []).reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(1, 4);
  });

  it('runs at most `slots` sequences and queues the rest in order, freeing a slot when a client goes away', async () => {
    const sim = simulator({ slots: 2, tpotMs: 5, outputTokens: 400 });
    const controllers = Array.from({ length: 4 }, () => new AbortController());
    const responses = controllers.map((c, i) =>
      sim.fetch(
        new Request('http://sim/v1/chat/completions', {
          method: 'POST',
          body: JSON.stringify(chat({ stream: true, seed: i })),
          headers: { 'content-type': 'application/json' },
          signal: c.signal,
        }),
      ),
    );
    await Promise.all(responses);
    // Requests that arrive while a step runs wait for the next one, as in vLLM's engine loop.
    await eventually(async () => sim.counters().running === 2);
    expect(sim.counters()).toMatchObject({ running: 2, waiting: 2 });
    const first = await responses[0];
    await first?.body?.cancel();
    expect(sim.counters()).toMatchObject({ running: 1, waiting: 2, aborted: 1 });
    // The freed slot is filled at the next decode step, from the head of the queue.
    await eventually(async () => sim.counters().running === 2);
    expect(sim.counters()).toMatchObject({ running: 2, waiting: 1 });
    for (const c of controllers.slice(1)) c.abort();
    expect(sim.counters()).toMatchObject({ running: 0, waiting: 0, aborted: 4 });
  });

  it("serves vLLM's gauges on /metrics and its models on /v1/models", async () => {
    const sim = simulator({ models: ['a', 'b'] });
    const metrics = await (await sim.fetch(new Request('http://sim/metrics'))).text();
    expect(metrics).toMatch(/^vllm:num_requests_running\{model_name="a",engine="0"\} 0\.0$/m);
    expect(metrics).toMatch(/^vllm:num_requests_waiting\{model_name="a",engine="0"\} 0\.0$/m);
    const models = (await (await sim.fetch(new Request('http://sim/v1/models'))).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['a', 'b']);
    expect((await sim.fetch(new Request('http://sim/health'))).status).toBe(200);
  });

  it('injects the faults it is told to: 500s, 429s and a crash after N requests', async () => {
    let crashed = 0;
    const sim = simulator({ errorRate: 0.5, rateLimitRate: 0.5, crashAfter: 3, onCrash: () => crashed++ });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(sim, '/v1/chat/completions', chat())).status);
    expect(statuses.every((s) => s === 500 || s === 429)).toBe(true);
    expect(crashed).toBe(1);
  });
});
