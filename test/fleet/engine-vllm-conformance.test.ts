import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import type { EngineOutcome } from '../../fleet/engine/outcome.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { runRequest, type Job } from '../../fleet/worker/run-request.ts';
import type { RequestResult } from '../../schema/index.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';

/*
 * Each test answers the worker with the bytes vLLM sends (vLLM main, 2026-05-19, commit
 * 28be48fa of local-inference-lab/vllm; files under vllm/entrypoints/openai/ unless named):
 * chunks are pydantic `model_dump_json(exclude_unset=True)` (compact JSON, declared field
 * order, fields set to None included), the usage chunk adds `exclude_none=True`, non-streamed
 * bodies are `JSONResponse(model_dump())` (every field, nulls included), and an error event is
 * Python's `json.dumps` (spaces after `:` and `,`).
 */

const watchdog = createWatchdog(20);
afterAll(() => watchdog.close());

/** A request as the fake engine received it. */
interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

type Answer = (req: Received, res: ServerResponse, call: number) => void;

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(closeServer));
});

/** A local HTTP server answering each call with `answer`; `calls` lists what it received. */
async function fakeVllm(answer: Answer) {
  const calls: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (piece: Buffer) => (raw += piece.toString()));
    req.on('end', () => {
      if (req.url === '/health') return res.end();
      const received = { url: req.url ?? '', headers: req.headers, raw, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {} };
      calls.push(received);
      answer(received, res, calls.length);
    });
  });
  servers.push(server);
  return { url: await listenLocal(server), calls };
}

/** vLLM's StreamingResponse: `data: ...\n\n` events, media type text/event-stream. */
function sse(res: ServerResponse, events: string[]) {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  for (const event of events) res.write(`data: ${event}\n\n`);
  res.end();
}

/** vLLM's JSONResponse. */
function json(res: ServerResponse, text: string, status = 200) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

const client = (url: string, timeouts: Partial<{ connect: number; first: number; stall: number }> = {}) =>
  createEngineClient({ baseUrl: url, watchdog, connectTimeoutMs: timeouts.connect ?? 5000, firstTokenTimeoutMs: timeouts.first ?? 5000, stallTimeoutMs: timeouts.stall ?? 5000, profile: 'vllm' });

const chatJob = (body: Record<string, unknown> = {}, endpoint = '/v1/chat/completions'): Job => ({
  id: 1,
  batchId: 'batch_abc',
  model: 'm',
  endpoint,
  body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...body }),
});

/** Runs one job against `url` with three retries; returns what the worker would store, and the errors it counted. */
async function run(url: string, job: Job, timeouts: Partial<{ connect: number; first: number; stall: number }> = {}) {
  const engine = client(url, timeouts);
  const errors: EngineOutcome[] = [];
  const gate = createEngineGate({ health: () => engine.health(), probeMs: 20 });
  const result = await runRequest({ client: engine, gate, maxRetries: 3, backoff: { baseMs: 1, maxMs: 5 }, onEngineError: (o) => errors.push(o) }, job, new AbortController().signal);
  gate.close();
  return { result, errors };
}

const stored = (result: RequestResult | string | null) => result as RequestResult;

// A chat stream's chunks as chat_completion_stream_generator writes them (chat_completion/serving.py).
const HEAD = '"id":"chatcmpl-batch_abc-1","object":"chat.completion.chunk","created":1747000000,"model":"m"';
const roleChunk = (index = 0, promptTokenIds = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"prompt_token_ids":${promptTokenIds},"prompt_text":null}`;
const deltaChunk = (delta: string, index = 0, tokenIds = 'null', logprobs = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":${delta},"logprobs":${logprobs},"finish_reason":null,"token_ids":${tokenIds}}]}`;
const finishChunk = (finishReason: string, index = 0, delta = '{"content":""}', stopReason = 'null', tokenIds = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${stopReason},"token_ids":${tokenIds}}]}`;
const usageChunk = (usage: string, fingerprint = '"vllm-0.11.1-tp2-1a2b3c4d"') => `{${HEAD},"choices":[],"usage":${usage},"system_fingerprint":${fingerprint}}`;

// chat_completion_full_generator's ChatCompletionResponse, as JSONResponse renders model_dump().
const chatBody = (choices: string, usage: string, extra: { promptTokenIds?: string } = {}) =>
  `{"id":"chatcmpl-batch_abc-1","object":"chat.completion","created":1747000000,"model":"m","choices":[${choices}],"service_tier":null,"system_fingerprint":"vllm-0.11.1-tp2-1a2b3c4d","usage":${usage},"prompt_logprobs":null,"prompt_token_ids":${extra.promptTokenIds ?? 'null'},"prompt_text":null,"kv_transfer_params":null}`;
const message = (content: string, rest: { toolCalls?: string; reasoning?: string } = {}) =>
  `{"role":"assistant","content":${content},"refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":${rest.toolCalls ?? '[]'},"reasoning":${rest.reasoning ?? 'null'}}`;
const chatChoice = (index: number, msg: string, finish = 'stop', stopReason = 'null', tokenIds = 'null', logprobs = 'null') =>
  `{"index":${index},"message":${msg},"logprobs":${logprobs},"finish_reason":"${finish}","stop_reason":${stopReason},"token_ids":${tokenIds}}`;

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
      chatBody(chatChoice(0, message('"Hello!"', { reasoning: '"The user greets; answer politely."' })), '{"prompt_tokens":5,"total_tokens":12,"completion_tokens":7,"prompt_tokens_details":null}'),
    );
  });

  it('reads the reasoning_content deltas of vLLM before 2026, and gives a reply that is all reasoning a null content', async () => {
    // A reasoning parser returns (reasoning, None) when the output never leaves the reasoning (reasoning/basic_parsers.py).
    const { url } = await fakeVllm((_req, res) =>
      sse(res, [roleChunk(), deltaChunk('{"reasoning_content":"Still thinking"}'), finishChunk('length'), usageChunk('{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}'), '[DONE]']),
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
    { field: 'prompt_logprobs on chat', endpoint: '/v1/chat/completions', extra: { prompt_logprobs: 1 }, error: refusal('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs') },
    { field: 'prompt_logprobs on completions', endpoint: '/v1/completions', extra: { prompt_logprobs: 1 }, error: refusal('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs') },
    { field: 'use_beam_search on completions', endpoint: '/v1/completions', extra: { use_beam_search: true, n: 2 }, error: refusal('Streaming is not currently supported with beam search', null) },
    { field: 'echo with logprobs on completions', endpoint: '/v1/completions', extra: { echo: true, logprobs: 1 }, error: null },
  ])('sends $field without streaming and keeps the body vLLM returns', async ({ endpoint, extra, error }) => {
    const answerBody = endpoint === '/v1/completions' ? completionBody : chatBody(chatChoice(0, message('"Paris."')), '{"prompt_tokens":2,"total_tokens":4,"completion_tokens":2,"prompt_tokens_details":null}');
    const { url, calls } = await fakeVllm((req, res) => {
      if (req.body.stream && error) return json(res, error, 400);
      if (req.body.stream) return sse(res, ['[DONE]']);
      json(res, answerBody);
    });
    const body = endpoint === '/v1/completions' ? { model: 'm', prompt: 'The capital of France is', ...extra } : { model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra };
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
  const tooManyLogprobs = '{"error": {"message": "Requested sample logprobs of 50, which is greater than max allowed: 20", "type": "BadRequestError", "param": null, "code": 400}}';

  it('fails a request the engine refuses mid-stream with its 400 and error body at once, and retries a 500 sent so', async () => {
    const refused = await fakeVllm((_req, res) => sse(res, [tooManyLogprobs, '[DONE]']));
    const { result } = await run(refused.url, chatJob({ logprobs: true, top_logprobs: 50 }));
    expect(result).toMatchObject({ status: 'failed', statusCode: 400, error: null });
    expect(stored(result).response).toBe(tooManyLogprobs);
    expect(refused.calls).toHaveLength(1);
    // GenerationError (finish_reason "error", e.g. a KV load failure) becomes an InternalServerError 500 event: a retry.
    const internal = '{"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}}';
    const failing = await fakeVllm((_req, res, call) =>
      sse(res, call === 1 ? [roleChunk(), internal, '[DONE]'] : [roleChunk(), deltaChunk('{"content":"Hi"}'), finishChunk('stop'), usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'), '[DONE]']),
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
          ? [roleChunk(), deltaChunk('{"content":"Hello"}'), finishChunk('abort'), usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'), '[DONE]']
          : [roleChunk(), deltaChunk('{"content":"Hello"}'), deltaChunk('{"content":" world"}'), finishChunk('stop'), usageChunk('{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}'), '[DONE]'],
      ),
    );
    const { result, errors } = await run(url, chatJob());
    expect(result).toMatchObject({ status: 'succeeded', completionTokens: 2 });
    expect(JSON.parse(stored(result).response ?? '')).toMatchObject({ choices: [{ message: { content: 'Hello world' }, finish_reason: 'stop' }] });
    expect(errors).toEqual([expect.objectContaining({ kind: 'retry', reason: 'engine_abort' })]);
    expect(calls).toHaveLength(2);
  });

  it('sends again a request aborted while it waited, whose stream has no finishing chunk at all', async () => {
    // A choice without a token yet sends no chunk, its abort included ("chunked prefill case" in
    // chat_completion/serving.py and completion/serving.py): chat streams the role chunk, usage and [DONE];
    // a completion only usage and [DONE].
    const completionUsage = '{"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":5,"completion_tokens":0}}';
    const whole = '{"id":"cmpl-batch_abc-1","object":"text_completion","created":1747000000,"model":"m","choices":[{"index":0,"text":" Paris","logprobs":null,"finish_reason":"stop","stop_reason":null,"prompt_token_ids":null,"token_ids":null}]}';
    for (const [endpoint, aborted, full] of [
      ['/v1/chat/completions', [roleChunk(), usageChunk('{"prompt_tokens":5,"total_tokens":5,"completion_tokens":0}'), '[DONE]'], [roleChunk(), deltaChunk('{"content":"Paris"}'), finishChunk('stop'), usageChunk('{"prompt_tokens":5,"total_tokens":6,"completion_tokens":1}'), '[DONE]']],
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
  const embedding = '{"id":"embd-batch_abc-1","object":"list","created":1747000000,"model":"e","data":[{"index":0,"object":"embedding","embedding":[0.5]}],"usage":{"prompt_tokens":3,"total_tokens":3,"completion_tokens":0,"prompt_tokens_details":null}}';

  it('waits for an embedding longer than the connect timeout, up to the first-token timeout, at its first attempt', async () => {
    const { url, calls } = await fakeVllm((_req, res) => setTimeout(() => json(res, embedding), 700));
    const { result, errors } = await run(url, { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a passage"}' }, { connect: 150, first: 5000 });
    expect(result).toMatchObject({ status: 'succeeded', statusCode: 200 });
    expect(errors).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  it('gives up on one that does not answer within the first-token timeout, saying why', async () => {
    const { url } = await fakeVllm(() => undefined);
    const outcome = await client(url, { connect: 50, first: 300 }).call('/v1/embeddings', '{"model":"e","input":"a passage"}');
    expect(outcome).toMatchObject({ kind: 'retry', reason: 'first_token_timeout', message: expect.stringMatching(/^no answer within 300 ms \(the call does not stream/) });
  });

  it('fails at once, with a clear error, a 200 that is not JSON (embeddings as raw bytes)', async () => {
    // encoding_format "bytes" answers application/octet-stream (pooling/utils.py build_pooling_bytes_streaming_response).
    const { url, calls } = await fakeVllm((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0x00, 0x00, 0x80, 0x3f]));
    });
    const { result } = await run(url, { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a","encoding_format":"bytes"}' });
    expect(result).toMatchObject({ status: 'failed', response: null, error: { code: 'engine_response_not_json', message: expect.stringContaining('use "float" or "base64"') } });
    expect(calls).toHaveLength(1);
  });
});

describe('an engine that refuses the fleet\'s API key', () => {
  // AuthenticationMiddleware (server_utils.py) answers /v1/* without the right bearer token with 401 {"error":"Unauthorized"}.
  it.each([401, 403])('hands the request back on a %i without a result and without spending its retries', async (status) => {
    const { url, calls } = await fakeVllm((_req, res) => json(res, '{"error":"Unauthorized"}', status));
    const { result, errors } = await run(url, chatJob());
    expect(result).toBe('engine_unauthorized');
    expect(errors).toEqual([expect.objectContaining({ kind: 'unauthorized', statusCode: status, message: expect.stringContaining('ENGINE_API_KEY') })]);
    expect(calls).toHaveLength(1);
  });
});

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
        [chatChoice(0, message('"Yes, sure"'), 'stop', '"END"', '[11,12,13,14]'), chatChoice(1, message('"No way!"'), 'length', 'null', '[21,22,23]')].join(','),
        usage,
        { promptTokenIds: '[1,2,3]' },
      ),
    },
    {
      case: 'a named tool call (content "")',
      request: { tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }], tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      events: [
        roleChunk(),
        deltaChunk('{"tool_calls":[{"id":"chatcmpl-tool-9f2c","type":"function","index":0,"function":{"name":"get_weather","arguments":"{\\"city\\": "}}]}'),
        deltaChunk('{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}'),
        finishChunk('stop', 0, '{"content":""}'),
        usageChunk(streamedUsage),
        '[DONE]',
      ],
      expected: chatBody(chatChoice(0, message('""', { toolCalls: '[{"id":"chatcmpl-tool-9f2c","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}}]' })), usage),
    },
    {
      case: 'logprobs, with a sampled token outside the top logprobs',
      request: { logprobs: true, top_logprobs: 1 },
      events: [
        roleChunk(),
        deltaChunk('{"content":"Hi"}', 0, 'null', '{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.1,"bytes":[72,105]}]}]}'),
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
        sse(res, [roleChunk(), deltaChunk('{"content":"Hi"}'), finishChunk('stop'), fingerprint ? usageChunk(streamedUsage, fingerprint) : `{${HEAD},"choices":[],"usage":${streamedUsage}}`, '[DONE]']),
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
    const lp = (offset: number, token: string, value: number) => `{"text_offset":[${offset}],"token_logprobs":[${value}],"tokens":["${token}"],"top_logprobs":[{"${token}":${value}}]}`;
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
    const job: Job = { ...chatJob(), endpoint: '/v1/completions', body: JSON.stringify({ model: 'm', prompt: ['France:', 'Italy:'], logprobs: 1, return_token_ids: true }) };
    const { result } = await run(url, job);
    expect(stored(result).response).toBe(expected);
  });
});

describe('the request id', () => {
  // XRequestIdMiddleware echoes X-Request-Id only with --enable-request-id-headers (api_server.py);
  // the serving classes always adopt it: chatcmpl-, cmpl-, embd- + the id (_base_request_id).
  it('is sent as X-Request-Id, the same on every retry, and stored as vLLM names the request, embeddings included', async () => {
    const { url, calls } = await fakeVllm((req, res, call) => {
      if (call === 1) return json(res, '{"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "param": null, "code": 500}}', 500);
      json(res, `{"id":"embd-${req.headers['x-request-id']}","object":"list","created":1,"model":"e","data":[{"index":0,"object":"embedding","embedding":[0.5]}],"usage":{"prompt_tokens":1,"total_tokens":1,"completion_tokens":0,"prompt_tokens_details":null}}`);
    });
    const { result } = await run(url, { ...chatJob(), endpoint: '/v1/embeddings', body: '{"model":"e","input":"a"}' });
    expect(calls.map((c) => c.headers['x-request-id'])).toEqual(['batch_abc-1', 'batch_abc-1']);
    expect(result).toMatchObject({ status: 'succeeded', engineRequestId: 'embd-batch_abc-1' });
  });

  it('of a streamed chat is the stream\'s id', async () => {
    const { url, calls } = await fakeVllm((_req, res) => sse(res, [roleChunk(), deltaChunk('{"content":"Hi"}'), finishChunk('stop'), usageChunk('{"prompt_tokens":1,"total_tokens":2,"completion_tokens":1}'), '[DONE]']));
    const { result } = await run(url, chatJob());
    expect(calls[0]?.headers['x-request-id']).toBe('batch_abc-1');
    expect(result).toMatchObject({ status: 'succeeded', engineRequestId: 'chatcmpl-batch_abc-1' });
  });
});
