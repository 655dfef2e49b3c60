import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../fleet/sim/index.ts';

const sims: Simulator[] = [];
afterEach(() => {
  for (const sim of sims.splice(0)) sim.close();
});

function sim(options: SimulatorOptions = {}) {
  const s = createSimulator({ ttftMs: 1, tpotMs: 1, outputTokens: 9, ...options });
  sims.push(s);
  return (body: unknown) =>
    s.fetch(
      new Request('http://sim/v1/responses', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    );
}

/** The events of an SSE body: each `event:` line's type with its parsed data. */
async function events(res: Response) {
  const text = await res.text();
  return text
    .trim()
    .split('\n\n')
    .map((block) => {
      const [event, data] = block.split('\n');
      return {
        type: event?.replace('event: ', ''),
        data: JSON.parse(data?.replace('data: ', '') ?? '{}') as Record<string, unknown> & { type: string },
      };
    });
}

// vLLM: vllm/entrypoints/openai/responses/protocol.py:593 ResponsesResponse (field order of model_dump).
const RESPONSE_FIELDS = [
  'id',
  'created_at',
  'incomplete_details',
  'instructions',
  'metadata',
  'model',
  'object',
  'output',
  'parallel_tool_calls',
  'temperature',
  'tool_choice',
  'tools',
  'top_p',
  'background',
  'max_output_tokens',
  'max_tool_calls',
  'previous_response_id',
  'prompt',
  'reasoning',
  'service_tier',
  'status',
  'text',
  'top_logprobs',
  'truncation',
  'usage',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'kv_transfer_params',
  'input_messages',
  'output_messages',
];

describe('the simulator serves /v1/responses as vLLM does', () => {
  it('answers a plain request with the ResponsesResponse body, every field in order and floats as pydantic writes them', async () => {
    const res = await sim()({ model: 'sim-model', input: 'Say hello', instructions: 'Be brief.', metadata: { a: 'b' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(Object.keys(body)).toEqual(RESPONSE_FIELDS);
    expect(body).toMatchObject({
      object: 'response',
      model: 'sim-model',
      status: 'completed',
      instructions: 'Be brief.',
      metadata: { a: 'b' },
      tool_choice: 'none',
      background: false,
      truncation: 'disabled',
    });
    expect(body.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(text).toContain('"temperature":1.0');
    expect(text).toContain('"presence_penalty":0.0');
    // Without a parser: one message whose one part is the text (responses/serving.py:1052).
    expect(body.output).toHaveLength(1);
    expect(Object.keys(body.output[0])).toEqual(['id', 'content', 'role', 'status', 'type']);
    expect(body.output[0].id).toMatch(/^msg_/);
    expect(body.output[0].content[0]).toEqual({ annotations: [], text: expect.any(String), type: 'output_text', logprobs: null });
    expect(body.usage.output_tokens).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBe(body.usage.input_tokens + body.usage.output_tokens);
    expect(body.usage.input_tokens_details).toEqual({ cached_tokens: 0, input_tokens_per_turn: [], cached_tokens_per_turn: [] });
  });

  it('streams created, in_progress, the items and their deltas, then completed with the same body as without streaming', async () => {
    const post = sim({ reasoningParser: 'qwen3', outputTokens: 40 });
    const request = { model: 'sim-model', input: [{ role: 'user', content: 'Plan a trip' }], max_output_tokens: 6 };
    const plain = await (await post(request)).json();
    const streamed = await events(await post({ ...request, stream: true }));
    expect(streamed[0]?.type).toBe('response.created');
    expect(streamed[1]?.type).toBe('response.in_progress');
    expect(streamed.at(-1)?.type).toBe('response.completed');
    expect(streamed.map((e) => e.data.sequence_number)).toEqual(streamed.map((_, i) => i));
    expect(streamed.every((e) => e.type === e.data.type)).toBe(true);
    const types = streamed.map((e) => e.type);
    expect(types).toContain('response.reasoning_text.delta');
    expect(types).toContain('response.output_text.delta');
    expect(types.indexOf('response.reasoning_text.done')).toBeLessThan(types.indexOf('response.output_text.delta'));
    const reasoning = streamed
      .filter((e) => e.type === 'response.reasoning_text.delta')
      .map((e) => e.data.delta)
      .join('');
    const text = streamed
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.data.delta)
      .join('');
    const final = streamed.at(-1)?.data.response as typeof plain;
    const strip = (r: typeof plain) => ({
      ...r,
      id: 'x',
      created_at: 0,
      output: r.output.map((o: Record<string, unknown>) => ({ ...o, id: 'x' })),
    });
    expect(strip(final)).toEqual(strip(plain));
    expect(plain.status).toBe('incomplete');
    expect(plain.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(plain.output.map((o: { type: string }) => o.type)).toEqual(['reasoning', 'message']);
    expect(plain.output[0].content[0].text).toBe(reasoning);
    expect(plain.output[1].content[0].text).toBe(text);
    expect(plain.usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  });

  it('refuses a request without input with FastAPI 400 naming the field', async () => {
    const res = await sim()({ model: 'sim-model' });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toMatchObject({ type: 'Bad Request', code: 400 });
    expect(body.error.message).toContain("'loc': ('body', 'input')");
  });

  it('refuses background mode while the response store is off, and a previous_response_id it never stored', async () => {
    const post = sim();
    const background = await post({ model: 'sim-model', input: 'x', background: true });
    expect(background.status).toBe(400);
    expect((await background.json()).error).toMatchObject({ type: 'invalid_request_error', param: 'background', code: 400 });
    const previous = await post({ model: 'sim-model', input: 'x', previous_response_id: 'resp_gone' });
    expect(previous.status).toBe(404);
    expect((await previous.json()).error).toEqual({
      message: "Response with id 'resp_gone' not found.",
      type: 'invalid_request_error',
      param: 'response_id',
      code: 404,
    });
  });

  it('refuses max_output_tokens over max_model_len, naming the parameter', async () => {
    const res = await sim({ maxModelLen: 64 })({ model: 'sim-model', input: 'x', max_output_tokens: 100 });
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.param).toBe('max_output_tokens');
    expect(error.message).toContain('max_output_tokens=100 cannot be greater than max_model_len=max_total_tokens=64');
  });

  it('breaks the stream after response.in_progress when logprobs exceed --max-logprobs, and answers 400 without streaming', async () => {
    const post = sim({ maxLogprobs: 5 });
    const request = { model: 'sim-model', input: 'x', include: ['message.output_text.logprobs'], top_logprobs: 10 };
    expect((await post(request)).status).toBe(400);
    const res = await post({ ...request, stream: true });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });
});
