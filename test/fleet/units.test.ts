import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../../fleet/config.ts';
import { backoffMs } from '../../fleet/engine/backoff.ts';
import { createAssembler } from '../../fleet/engine/reassemble.ts';
import { readSse } from '../../fleet/engine/sse.ts';
import { parseSimArgs } from '../../fleet/sim/index.ts';
import { parseSupervisorArgs } from '../../fleet/supervisor/args.ts';
import { createGpuStatsReader, parseNvidiaSmi } from '../../fleet/worker/gpu-stats.ts';
import { renderEngineCommand } from '../../fleet/worker/owned-engine.ts';

const streamOf = (pieces: string[]) => {
  const bytes = pieces.map((p) => new TextEncoder().encode(p));
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const b of bytes) controller.enqueue(b);
      controller.close();
    },
  });
};

describe('reading server-sent events', () => {
  it('reassembles events split anywhere, across multi-byte characters and CRLF line ends', async () => {
    const text = 'data: {"a":"é"}\r\n\r\n: comment\n\ndata: {"b":1}\ndata: {"c":2}\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    for (const batchBytes of [1, 7, 65_536]) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += 3) pieces.push(bytes.slice(i, i + 3));
      const seen: string[] = [];
      let activity = 0;
      await readSse(
        new ReadableStream({
          start: (c) => {
            for (const p of pieces) c.enqueue(p);
            c.close();
          },
        }),
        { onEvents: (d) => seen.push(...d), onActivity: () => activity++, batchBytes },
      );
      expect(seen).toEqual(['{"a":"é"}', '{"b":1}\n{"c":2}', '[DONE]']);
      expect(activity).toBe(pieces.length);
    }
  });

  it('keeps a CRLF split between two pieces as one line end', async () => {
    const seen: string[] = [];
    await readSse(streamOf(['data: {"a":\r', '\ndata: 1}\r', '\n\r', '\ndata: [DONE]\r\n\r\n']), {
      onEvents: (d) => seen.push(...d),
      onActivity() {},
      batchBytes: 1,
    });
    expect(seen).toEqual(['{"a":\n1}', '[DONE]']);
  });

  it('hands over a last event without its blank line', async () => {
    const seen: string[] = [];
    await readSse(streamOf(['data: 1\n\ndata: 2']), { onEvents: (d) => seen.push(...d), onActivity() {} });
    expect(seen).toEqual(['1', '2']);
  });
});

describe('reassembling a streamed completion', () => {
  it('joins tool-call deltas by index, names split across chunks, several choices and usage', () => {
    const a = createAssembler('chat');
    const chunk = (choices: unknown[], extra = {}) => ({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 5,
      model: 'm',
      choices,
      ...extra,
    });
    a.push(
      chunk([
        {
          index: 0,
          delta: {
            role: 'assistant',
            tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'look', arguments: '' } }],
          },
        },
      ]),
    );
    a.push(
      chunk([
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, function: { name: 'up', arguments: '{"q":' } },
              { index: 1, id: 'call_b', function: { name: 'other', arguments: '{}' } },
            ],
          },
        },
      ]),
    );
    a.push(chunk([{ index: 1, delta: { role: 'assistant', content: 'hel' } }]));
    a.push(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] }, finish_reason: 'tool_calls' }]));
    a.push(chunk([{ index: 1, delta: { content: 'lo' }, finish_reason: 'length' }]));
    a.push(chunk([], { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }));
    // vLLM's non-streamed ChatCompletionResponse, every field in order (model_dump() excludes nothing).
    const nulls = { refusal: null, annotations: null, audio: null, function_call: null };
    expect(a.result()).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 5,
      model: 'm',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            ...nulls,
            tool_calls: [
              { id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
              { id: 'call_b', type: 'function', function: { name: 'other', arguments: '{}' } },
            ],
            reasoning: null,
          },
          logprobs: null,
          finish_reason: 'tool_calls',
          stop_reason: null,
          token_ids: null,
        },
        {
          index: 1,
          message: { role: 'assistant', content: 'hello', ...nulls, tool_calls: [], reasoning: null },
          logprobs: null,
          finish_reason: 'length',
          stop_reason: null,
          token_ids: null,
        },
      ],
      service_tier: null,
      system_fingerprint: null,
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: null },
      prompt_logprobs: null,
      prompt_token_ids: null,
      prompt_text: null,
      kv_transfer_params: null,
    });
  });

  it('joins the logprobs of a streamed text completion as the plain reply carries them', () => {
    const a = createAssembler('completion');
    const logprobs = (token: string, offset: number, value: number) => ({
      text_offset: [offset],
      token_logprobs: [value],
      tokens: [token],
      top_logprobs: [{ [token]: value }],
    });
    a.push({
      id: 'cmpl-2',
      object: 'text_completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text: 'a', logprobs: logprobs('a', 0, -0.5), finish_reason: null }],
    });
    a.push({
      id: 'cmpl-2',
      object: 'text_completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text: 'b', logprobs: logprobs('b', 1, -0.25), finish_reason: 'length' }],
    });
    expect(a.result()).toMatchObject({
      choices: [
        {
          text: 'ab',
          logprobs: { text_offset: [0, 1], token_logprobs: [-0.5, -0.25], tokens: ['a', 'b'], top_logprobs: [{ a: -0.5 }, { b: -0.25 }] },
          finish_reason: 'length',
        },
      ],
    });
  });

  it('counts streamed pieces as usage when the engine sends none', () => {
    const a = createAssembler('completion');
    for (const text of ['a', 'b', 'c'])
      a.push({
        id: 'cmpl-1',
        object: 'text_completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, text, finish_reason: text === 'c' ? 'stop' : null }],
      });
    expect(a.result()).toMatchObject({
      object: 'text_completion',
      choices: [{ text: 'abc', finish_reason: 'stop' }],
      usage: { completion_tokens: 3 },
    });
  });
});

describe('small pieces of the fleet', () => {
  it('backs off exponentially with full jitter, never below Retry-After', () => {
    expect(backoffMs(0, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(99);
    expect(backoffMs(3, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(799);
    expect(backoffMs(10, { baseMs: 100, maxMs: 1000 }, null, () => 0.999)).toBe(999);
    expect(backoffMs(2, { baseMs: 100, maxMs: 1000 }, 5000, () => 0.5)).toBe(5000);
  });

  it('reads GPU memory, utilization and temperature from nvidia-smi, and nothing where it is absent', async () => {
    const text = '0, 40213, 81559, 97, 66\n1, 1024, 81559, 0, 31\n';
    expect(parseNvidiaSmi(text).get('1')).toEqual({ memoryUsedMiB: 1024, memoryTotalMiB: 81559, utilizationPercent: 0, temperatureC: 31 });
    expect(parseNvidiaSmi('0, [N/A], 1, [N/A], 30').get('0')).toBeUndefined();
    expect(await createGpuStatsReader('0', { run: async () => text, minIntervalMs: 0 })()).toEqual({
      memoryUsedMiB: 40213,
      memoryTotalMiB: 81559,
      utilizationPercent: 97,
      temperatureC: 66,
    });
    let calls = 0;
    const absent = createGpuStatsReader('0', { run: async () => (calls++, null), minIntervalMs: 0 });
    expect(await absent()).toBeNull();
    expect(await absent()).toBeNull();
    expect(calls).toBe(1);
  });

  it('fills the engine command template, quoting what needs it', () => {
    const command = renderEngineCommand('vllm serve {model} --served-model-name {name} --port {port} {args}', {
      model: { name: 'chat', source: 'org/Model-7B', engineArgs: ['--max-num-seqs', '512', "--chat-template=it's"] },
      port: 8001,
      gpu: '1',
    });
    expect(command).toBe("vllm serve org/Model-7B --served-model-name chat --port 8001 --max-num-seqs 512 '--chat-template=it'\\''s'");
  });

  it("parses the supervisor's and the simulator's command lines, naming what is wrong", () => {
    expect(parseSupervisorArgs(['--gpus', '0,1', '--engine-url', 'http://a:8000,http://b:8000', '--host', 'h'])).toMatchObject({
      gpus: ['0', '1'],
      engineUrls: ['http://a:8000', 'http://b:8000'],
      engineCmd: null,
      runtime: 'bun',
      host: 'h',
    });
    expect(() => parseSupervisorArgs(['--gpus', '0,1', '--engine-url', 'http://a:8000'])).toThrow('--engine-url has 1 URL(s) for 2 GPU(s)');
    expect(() => parseSupervisorArgs(['--gpus', '0'])).toThrow('give exactly one of --engine-url');
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine-cmd', 'x', '--runtime', 'python'])).toThrow('--runtime python is unknown');
    expect(parseSimArgs(['--port', '8100', '--model', 'a,b', '--slots', '1024', '--tpot-ms', '30', '--error-rate', '0.1'])).toMatchObject({
      port: 8100,
      models: ['a', 'b'],
      slots: 1024,
      tpotMs: 30,
      errorRate: 0.1,
    });
    expect(() => parseSimArgs(['--error-rate', '2'])).toThrow('--error-rate');
  });

  it('refuses a worker configuration with neither or both of ENGINE_URL and ENGINE_CMD', () => {
    expect(() => loadWorkerConfig({})).toThrow('ENGINE_URL: set exactly one of ENGINE_URL');
    expect(() => loadWorkerConfig({ ENGINE_URL: 'http://a', ENGINE_CMD: 'vllm serve {model}' })).toThrow('set exactly one');
    expect(loadWorkerConfig({ ENGINE_URL: 'http://a:8000', WORKER_GPU: '3' })).toMatchObject({
      ENGINE_URL: 'http://a:8000',
      WORKER_GPU: '3',
      LEASE_TTL_MS: 6000,
    });
  });
});
