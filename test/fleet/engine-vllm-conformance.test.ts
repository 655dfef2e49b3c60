import { describe, expect, it } from 'vitest';
import type { Job } from '../../fleet/worker/run-request.ts';
import {
  chatBody,
  chatChoice,
  chatJob,
  client,
  deltaChunk,
  fakeVllm,
  finishChunk,
  json,
  message,
  roleChunk,
  run,
  sse,
  stored,
  usageChunk,
  useFakeVllm,
} from './vllm-fakes.ts';

// vLLM V1's behaviours the engine client must meet (issue 13), against a local server that sends
// vLLM's exact bytes; the reassembled bodies and the request id are in engine-vllm-bodies.test.ts.
useFakeVllm();

describe('reasoning models on vLLM (DeltaMessage.reasoning, ChatMessage.reasoning)', () => {
  it('keeps the reasoning a model streams, in message.reasoning as vLLM returns it without streaming', async () => {
    const { url } = await fakeVllm((_req, res) =>
      sse(res, [
        roleChunk(),
        deltaChunk('{"reasoning":"The user greets; "}'),
        deltaChunk('{"reasoning":"answer politely."}'),
        deltaChunk('{"content":"Hello!"}'),
        finishChunk('stop'),
        usageChunk('{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7}'),
        '[DONE]',
      ]),
    );
    const { result } = await run(url, chatJob());
    expect(stored(result).response).toBe(
      chatBody(
        chatChoice(0, message('"Hello!"', { reasoning: '"The user greets; answer politely."' })),
        '{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7,"prompt_tokens_details":null}',
      ),
    );
  });

  it('reads the reasoning_content deltas of vLLM before 2026, and gives a reply that is all reasoning a null content', async () => {
    // A reasoning parser returns (reasoning, None) when the output never leaves the reasoning (reasoning/basic_parsers.py).
    const { url } = await fakeVllm((_req, res) =>
      sse(res, [
        roleChunk(),
        deltaChunk('{"reasoning_content":"Still thinking"}'),
        finishChunk('length'),
        usageChunk('{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}'),
        '[DONE]',
      ]),
    );
    const { result } = await run(url, chatJob());
    const body = JSON.parse(stored(result).response ?? '') as { choices: { message: Record<string, unknown> }[] };
    expect(body.choices[0]?.message).toMatchObject({ content: null, reasoning: 'Still thinking' });
  });
});

describe('requests vLLM cannot stream', () => {
  // chat_completion/protocol.py and completion/protocol.py check_logprobs; completion/serving.py _create_completion.
  const refusal = (message: string, param: string | null) =>
    `{"error":{"message":"${message}","type":"BadRequestError","param":${param === null ? 'null' : `"${param}"`},"code":400}}`;
  const completionBody =
    '{"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m","choices":[{"index":0,"text":" Paris.","logprobs":null,"finish_reason":"stop","stop_reason":null,"token_ids":null,"prompt_logprobs":[null,{"1234":{"logprob":-3.2,"rank":12,"decoded_token":" capital"},"56":{"logprob":-0.4,"rank":1,"decoded_token":" city"}}],"prompt_token_ids":null}],"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":2,"total_tokens":4,"completion_tokens":2,"prompt_tokens_details":null},"kv_transfer_params":null}';

  it.each([
    {
      field: 'prompt_logprobs on chat',
      endpoint: '/v1/chat/completions',
      extra: { prompt_logprobs: 1 },
      error: refusal('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs'),
    },
    {
      field: 'prompt_logprobs on completions',
      endpoint: '/v1/completions',
      extra: { prompt_logprobs: 1 },
      error: refusal('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs'),
    },
    {
      field: 'use_beam_search on completions',
      endpoint: '/v1/completions',
      extra: { use_beam_search: true, n: 2 },
      error: refusal('Streaming is not currently supported with beam search', null),
    },
    { field: 'echo with logprobs on completions', endpoint: '/v1/completions', extra: { echo: true, logprobs: 1 }, error: null },
  ])('sends $field without streaming and keeps the body vLLM returns', async ({ endpoint, extra, error }) => {
    const answerBody =
      endpoint === '/v1/completions'
        ? completionBody
        : chatBody(
            chatChoice(0, message('"Paris."')),
            '{"prompt_tokens":2,"total_tokens":4,"completion_tokens":2,"prompt_tokens_details":null}',
          );
    const { url, calls } = await fakeVllm((req, res) => {
      if (req.body.stream && error) return json(res, error, 400);
      if (req.body.stream) return sse(res, ['[DONE]']);
      json(res, answerBody);
    });
    const body =
      endpoint === '/v1/completions'
        ? { model: 'm', prompt: 'The capital of France is', ...extra }
        : { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra };
    const job: Job = { ...chatJob(), endpoint, body: JSON.stringify(body) };
    const { result } = await run(url, job);
    expect(result).toMatchObject({ status: 'succeeded', statusCode: 200, error: null });
    // Byte for byte: a parse would put token id 56 before 1234, which vLLM ranks first.
    expect(stored(result).response).toBe(answerBody);
    // The line's body went as written: no stream, no stream_options.
    expect(calls.map((c) => c.raw)).toEqual([job.body]);
  });
});

describe('errors vLLM sends inside a stream', () => {
  // The engine's validation runs once the 200 is sent: chat_completion_stream_generator catches
  // it and writes create_streaming_error_response(e) (engine/serving.py), a 400 for a ValueError
  // (entrypoints/utils.py create_error_response), then [DONE].
  const tooManyLogprobs =
    '{"error": {"message": "Requested sample logprobs of 50, which is greater than max allowed: 20", "type": "BadRequestError", "param": null, "code": 400}}';

  it('fails a request the engine refuses mid-stream with its 400 and error body at once, and retries a 500 sent so', async () => {
    const refused = await fakeVllm((_req, res) => sse(res, [tooManyLogprobs, '[DONE]']));
    const { result } = await run(refused.url, chatJob({ logprobs: true, top_logprobs: 50 }));
    expect(result).toMatchObject({ status: 'failed', statusCode: 400, error: null });
    expect(stored(result).response).toBe(tooManyLogprobs);
    expect(refused.calls).toHaveLength(1);
    // GenerationError (finish_reason "error", e.g. a KV load failure) becomes an InternalServerError 500 event: a retry.
    const internal = '{"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}}';
    const failing = await fakeVllm((_req, res, call) =>
      sse(
        res,
        call === 1
          ? [roleChunk(), internal, '[DONE]']
          : [
              roleChunk(),
              deltaChunk('{"content":"Hi"}'),
              finishChunk('stop'),
              usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'),
              '[DONE]',
            ],
      ),
    );
    const retried = await run(failing.url, chatJob());
    expect(retried.result).toMatchObject({ status: 'succeeded', statusCode: 200 });
    expect(retried.errors).toEqual([expect.objectContaining({ kind: 'retry', reason: 'server_error', statusCode: 500 })]);
    expect(failing.calls).toHaveLength(2);
  });
});

describe('requests the engine aborts', () => {
  // Engine shutdown (shutdown_timeout 0), /pause and /sleep finish running requests with
  // FinishReason.ABORT (v1/engine/core.py _handle_shutdown, pause_scheduler), streamed as a
  // normal last chunk with finish_reason "abort", then the usage chunk and [DONE].
  it('sends a stream that ended with finish_reason "abort" again and stores the whole output, never the cut one', async () => {
    const { url, calls } = await fakeVllm((_req, res, call) =>
      sse(
        res,
        call === 1
          ? [
              roleChunk(),
              deltaChunk('{"content":"Hello"}'),
              finishChunk('abort'),
              usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'),
              '[DONE]',
            ]
          : [
              roleChunk(),
              deltaChunk('{"content":"Hello"}'),
              deltaChunk('{"content":" world"}'),
              finishChunk('stop'),
              usageChunk('{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}'),
              '[DONE]',
            ],
      ),
    );
    const { result, errors } = await run(url, chatJob());
    expect(result).toMatchObject({ status: 'succeeded', completionTokens: 2 });
    expect(JSON.parse(stored(result).response ?? '')).toMatchObject({
      choices: [{ message: { content: 'Hello world' }, finish_reason: 'stop' }],
    });
    expect(errors).toEqual([expect.objectContaining({ kind: 'retry', reason: 'engine_abort' })]);
    expect(calls).toHaveLength(2);
  });

  it('sends again a request aborted while it waited, whose stream has no finishing chunk at all', async () => {
    // A choice without a token yet sends no chunk, its abort included ("chunked prefill case" in
    // chat_completion/serving.py and completion/serving.py): chat streams the role chunk, usage and [DONE];
    // a completion only usage and [DONE].
    const completionUsage =
      '{"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":5,"completion_tokens":0}}';
    const whole =
      '{"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":"stop","stop_reason":null,"prompt_token_ids":null,"token_ids":null}]}';
    for (const [endpoint, aborted, full] of [
      [
        '/v1/chat/completions',
        [roleChunk(), usageChunk('{"prompt_tokens":5,"total_tokens":5,"completion_tokens":0}'), '[DONE]'],
        [
          roleChunk(),
          deltaChunk('{"content":"Paris"}'),
          finishChunk('stop'),
          usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'),
          '[DONE]',
        ],
      ],
      ['/v1/completions', [completionUsage, '[DONE]'], [whole, completionUsage, '[DONE]']],
    ] as const) {
      const { url, calls } = await fakeVllm((_req, res, call) => sse(res, call === 1 ? [...aborted] : [...full]));
      const body = endpoint === '/v1/completions' ? '{"model":"m","prompt":"The capital of France is"}' : chatJob().body;
      const { result, errors } = await run(url, { ...chatJob(), endpoint, body });
      expect(JSON.parse(stored(result).response ?? '')).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
      expect(errors).toEqual([expect.objectContaining({ kind: 'retry', reason: 'engine_abort' })]);
      expect(calls).toHaveLength(2);
    }
  });

  it('sends an embedding the engine aborted (an empty vector) again', async () => {
    // An aborted pooling request ends with an empty tensor (v1/engine/output_processor.py abort_requests, EMPTY_CPU_TENSOR).
    const embedding = (vector: string) =>
      `{"id":"embd-batch_abc-1","object":"list","created":1747000000,"model":"e","data":[{"index":0,"object":"embedding","embedding":${vector}}],"usage":{"prompt_tokens":3,"total_tokens":3,"completion_tokens":0,"prompt_tokens_details":null}}`;
    const { url, calls } = await fakeVllm((_req, res, call) => json(res, embedding(call === 1 ? '[]' : '[0.1,-0.2,0.3]')));
    const { result } = await run(url, { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a passage"}' });
    expect(JSON.parse(stored(result).response ?? '')).toMatchObject({ data: [{ embedding: [0.1, -0.2, 0.3] }] });
    expect(calls).toHaveLength(2);
  });
});

describe('calls that do not stream', () => {
  // vLLM sends a JSONResponse's headers only once the whole result exists (chat_completion/api_router.py,
  // pooling/embed/serving.py): the wait is the request's queueing and computing.
  const embedding =
    '{"id":"embd-batch_abc-1","object":"list","created":1747000000,"model":"e","data":[{"index":0,"object":"embedding","embedding":[0.5]}],"usage":{"prompt_tokens":3,"total_tokens":3,"completion_tokens":0,"prompt_tokens_details":null}}';

  it('waits for an embedding longer than the connect timeout, up to the first-token timeout, at its first attempt', async () => {
    const { url, calls } = await fakeVllm((_req, res) => setTimeout(() => json(res, embedding), 700));
    const { result, errors } = await run(
      url,
      { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a passage"}' },
      { connect: 150, first: 5000 },
    );
    expect(result).toMatchObject({ status: 'succeeded', statusCode: 200 });
    expect(errors).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  it('gives up on one that does not answer within the first-token timeout, saying why', async () => {
    const { url } = await fakeVllm(() => undefined);
    const outcome = await client(url, { connect: 50, first: 300 }).call('/v1/embeddings', '{"model":"e","input":"a passage"}');
    expect(outcome).toMatchObject({
      kind: 'retry',
      reason: 'first_token_timeout',
      message: expect.stringMatching(/^no answer within 300 ms \(the call does not stream/),
    });
  });

  it('fails at once, with a clear error, a 200 that is not JSON (embeddings as raw bytes)', async () => {
    // encoding_format "bytes" answers application/octet-stream (pooling/utils.py build_pooling_bytes_streaming_response).
    const { url, calls } = await fakeVllm((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0x00, 0x00, 0x80, 0x3f]));
    });
    const { result } = await run(url, {
      ...chatJob(),
      endpoint: '/v1/embeddings',
      body: '{"model":"e","input":"a","encoding_format":"bytes"}',
    });
    expect(result).toMatchObject({
      status: 'failed',
      response: null,
      error: { code: 'engine_response_not_json', message: expect.stringContaining('use "float" or "base64"') },
    });
    expect(calls).toHaveLength(1);
  });
});

describe("an engine that refuses the fleet's API key", () => {
  // AuthenticationMiddleware (server_utils.py) answers /v1/* without the right bearer token with 401 {"error":"Unauthorized"}.
  it.each([401, 403])('hands the request back on a %i without a result and without spending its retries', async (status) => {
    const { url, calls } = await fakeVllm((_req, res) => json(res, '{"error":"Unauthorized"}', status));
    const { result, errors } = await run(url, chatJob());
    expect(result).toBe('engine_unauthorized');
    expect(errors).toEqual([
      expect.objectContaining({ kind: 'unauthorized', statusCode: status, message: expect.stringContaining('ENGINE_API_KEY') }),
    ]);
    expect(calls).toHaveLength(1);
  });
});
