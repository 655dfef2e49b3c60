import { describe, expect, it } from 'vitest';
import { createAssembler } from '../../fleet/engine/reassemble.ts';

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
