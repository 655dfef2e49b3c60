import { describe, expect, it } from 'vitest';
import type { Job } from '../../fleet/worker/run-request.ts';
import {
  chatBody,
  chatChoice,
  chatJob,
  deltaChunk,
  fakeVllm,
  finishChunk,
  HEAD,
  json,
  message,
  roleChunk,
  run,
  sse,
  stored,
  usageChunk,
  useFakeVllm,
} from './vllm-fakes.ts';

// Bodies reassembled from vLLM's streams equal what vLLM returns without streaming, and the
// request id vLLM adopts, against a local server that sends vLLM's exact bytes.
useFakeVllm();

describe('reassembled bodies equal what vLLM returns without streaming, field for field and in order', () => {
  const usage = '{"prompt_tokens":3,"total_tokens":9,"completion_tokens":6,"prompt_tokens_details":{"cached_tokens":2}}';
  const streamedUsage = '{"prompt_tokens":3,"total_tokens":9,"completion_tokens":6,"prompt_tokens_details":{"cached_tokens":2}}';

  it.each([
    {
      case: 'two choices with token ids, a stop string and cached prompt tokens',
      request: { n: 2, stop: ['END'], return_token_ids: true },
      events: [
        roleChunk(0, '[1,2,3]'),
        roleChunk(1, '[1,2,3]'),
        deltaChunk('{"content":"Yes"}', 0, '[11]'),
        deltaChunk('{"content":"No"}', 1, '[21]'),
        deltaChunk('{"content":", sure"}', 0, '[12,13]'),
        finishChunk('stop', 0, '{"content":""}', '"END"', '[14]'),
        deltaChunk('{"content":" way"}', 1, '[22]'),
        finishChunk('length', 1, '{"content":"!"}', 'null', '[23]'),
        usageChunk(streamedUsage),
        '[DONE]',
      ],
      expected: chatBody(
        [
          chatChoice(0, message('"Yes, sure"'), 'stop', '"END"', '[11,12,13,14]'),
          chatChoice(1, message('"No way!"'), 'length', 'null', '[21,22,23]'),
        ].join(','),
        usage,
        { promptTokenIds: '[1,2,3]' },
      ),
    },
    {
      case: 'a named tool call (content "")',
      request: {
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
      },
      events: [
        roleChunk(),
        deltaChunk(
          '{"tool_calls":[{"id":"chatcmpl-tool-9f2c","type":"function","index":0,"function":{"name":"get_weather","arguments":"{\\"city\\": "}}]}',
        ),
        deltaChunk('{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}'),
        finishChunk('stop', 0, '{"content":""}'),
        usageChunk(streamedUsage),
        '[DONE]',
      ],
      expected: chatBody(
        chatChoice(
          0,
          message('""', {
            toolCalls:
              '[{"id":"chatcmpl-tool-9f2c","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}}]',
          }),
        ),
        usage,
      ),
    },
    {
      case: 'logprobs, with a sampled token outside the top logprobs',
      request: { logprobs: true, top_logprobs: 1 },
      events: [
        roleChunk(),
        deltaChunk(
          '{"content":"Hi"}',
          0,
          'null',
          '{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.1,"bytes":[72,105]}]}]}',
        ),
        // _create_chat_logprobs sets only token and bytes for such a token; exclude_unset drops the rest.
        deltaChunk('{"content":"!"}', 0, 'null', '{"content":[{"token":"!","bytes":[33]}]}'),
        finishChunk('stop'),
        usageChunk(streamedUsage),
        '[DONE]',
      ],
      expected: chatBody(
        chatChoice(
          0,
          message('"Hi!"'),
          'stop',
          'null',
          'null',
          '{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.1,"bytes":[72,105]}]},{"token":"!","logprob":-9999,"bytes":[33],"top_logprobs":[]}]}',
        ),
        usage,
      ),
    },
  ])('chat: $case', async ({ request, events, expected }) => {
    const { url } = await fakeVllm((_req, res) => sse(res, events));
    const { result } = await run(url, chatJob(request));
    expect(stored(result).response).toBe(JSON.stringify(JSON.parse(expected)));
  });

  it('chat: system_fingerprint comes from the final usage chunk, and is null when the engine has none', async () => {
    for (const fingerprint of ['"vllm-0.11.1-tp2-1a2b3c4d"', null]) {
      const { url } = await fakeVllm((_req, res) =>
        sse(res, [
          roleChunk(),
          deltaChunk('{"content":"Hi"}'),
          finishChunk('stop'),
          fingerprint ? usageChunk(streamedUsage, fingerprint) : `{${HEAD},"choices":[],"usage":${streamedUsage}}`,
          '[DONE]',
        ]),
      );
      const { result } = await run(url, chatJob());
      expect(JSON.parse(stored(result).response ?? '')).toMatchObject({ system_fingerprint: fingerprint && JSON.parse(fingerprint) });
    }
  });

  it('completions: two prompts, logprobs and token ids', async () => {
    // completion_stream_generator and request_output_to_completion_response (completion/serving.py).
    const head = '"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m"';
    const chunk = (index: number, text: string, logprobs: string, finish: string, tokenIds: string, promptTokenIds: string) =>
      `{${head},"choices":[{"index":${index},"text":"${text}","logprobs":${logprobs},"finish_reason":${finish},"stop_reason":null,"prompt_token_ids":${promptTokenIds},"token_ids":${tokenIds}}]}`;
    const lp = (offset: number, token: string, value: number) =>
      `{"text_offset":[${offset}],"token_logprobs":[${value}],"tokens":["${token}"],"top_logprobs":[{"${token}":${value}}]}`;
    const { url } = await fakeVllm((_req, res) =>
      sse(res, [
        chunk(0, ' Paris', lp(0, ' Paris', -0.2), 'null', '[7]', '[1,2]'),
        chunk(1, ' Rome', lp(0, ' Rome', -0.3), 'null', '[8]', '[3,4]'),
        chunk(0, '.', lp(6, '.', -0.01), '"stop"', '[9]', 'null'),
        chunk(1, '.', lp(5, '.', -0.02), '"stop"', '[9]', 'null'),
        `{${head},"choices":[],"usage":{"prompt_tokens":4,"total_tokens":8,"completion_tokens":4},"system_fingerprint":"fp"}`,
        '[DONE]',
      ]),
    );
    const joined = (a: [string, number, number], b: [string, number, number]) =>
      `{"text_offset":[${a[1]},${b[1]}],"token_logprobs":[${a[2]},${b[2]}],"tokens":["${a[0]}","${b[0]}"],"top_logprobs":[{"${a[0]}":${a[2]}},{"${b[0]}":${b[2]}}]}`;
    const choice = (index: number, text: string, logprobs: string, tokenIds: string, promptTokenIds: string) =>
      `{"index":${index},"text":"${text}","logprobs":${logprobs},"finish_reason":"stop","stop_reason":null,"token_ids":${tokenIds},"prompt_logprobs":null,"prompt_token_ids":${promptTokenIds}}`;
    const expected = `{${head},"choices":[${choice(0, ' Paris.', joined([' Paris', 0, -0.2], ['.', 6, -0.01]), '[7,9]', '[1,2]')},${choice(1, ' Rome.', joined([' Rome', 0, -0.3], ['.', 5, -0.02]), '[8,9]', '[3,4]')}],"service_tier":null,"system_fingerprint":"fp","usage":{"prompt_tokens":4,"total_tokens":8,"completion_tokens":4,"prompt_tokens_details":null},"kv_transfer_params":null}`;
    const job: Job = {
      ...chatJob(),
      endpoint: '/v1/completions',
      body: JSON.stringify({ model: 'm', prompt: ['France:', 'Italy:'], logprobs: 1, return_token_ids: true }),
    };
    const { result } = await run(url, job);
    expect(stored(result).response).toBe(expected);
  });
});

describe('the request id', () => {
  // XRequestIdMiddleware echoes X-Request-Id only with --enable-request-id-headers (api_server.py);
  // the serving classes always adopt it: chatcmpl-, cmpl-, embd- + the id (_base_request_id).
  it('is sent as X-Request-Id, the same on every retry, and stored as vLLM names the request, embeddings included', async () => {
    const { url, calls } = await fakeVllm((req, res, call) => {
      if (call === 1)
        return json(
          res,
          '{"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "param": null, "code": 500}}',
          500,
        );
      json(
        res,
        `{"id":"embd-${req.headers['x-request-id']}","object":"list","created":1,"model":"e","data":[{"index":0,"object":"embedding","embedding":[0.5]}],"usage":{"prompt_tokens":1,"total_tokens":1,"completion_tokens":0,"prompt_tokens_details":null}}`,
      );
    });
    const { result } = await run(url, { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a"}' });
    expect(calls.map((c) => c.headers['x-request-id'])).toEqual(['batch_abc-1', 'batch_abc-1']);
    expect(result).toMatchObject({ status: 'succeeded', engineRequestId: 'embd-batch_abc-1' });
  });

  it("of a streamed chat is the stream's id", async () => {
    const { url, calls } = await fakeVllm((_req, res) =>
      sse(res, [
        roleChunk(),
        deltaChunk('{"content":"Hi"}'),
        finishChunk('stop'),
        usageChunk('{"prompt_tokens":1,"total_tokens":2,"completion_tokens":1}'),
        '[DONE]',
      ]),
    );
    const { result } = await run(url, chatJob());
    expect(calls[0]?.headers['x-request-id']).toBe('batch_abc-1');
    expect(result).toMatchObject({ status: 'succeeded', engineRequestId: 'chatcmpl-batch_abc-1' });
  });
});
