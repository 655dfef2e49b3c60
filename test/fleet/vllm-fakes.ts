import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { afterAll, afterEach } from 'vitest';
import { createEngineClient } from '../../fleet/engine/client.ts';
import { createEngineGate } from '../../fleet/engine/gate.ts';
import type { EngineOutcome } from '../../fleet/engine/outcome.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import { runRequest, type Job } from '../../fleet/worker/run-request.ts';
import type { RequestResult } from '../../schema/index.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';

/*
 * A local server answering the engine client with the bytes vLLM sends (vLLM main, 2026-05-19,
 * commit 28be48fa of local-inference-lab/vllm; files under vllm/entrypoints/openai/ unless named):
 * chunks are pydantic `model_dump_json(exclude_unset=True)` (compact JSON, declared field order,
 * fields set to None included), the usage chunk adds `exclude_none=True`, non-streamed bodies are
 * `JSONResponse(model_dump())` (every field, nulls included), and an error event is Python's
 * `json.dumps` (spaces after `:` and `,`).
 */

const watchdog = createWatchdog(20);

/** A request as the fake engine received it. */
export interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

export type Answer = (req: Received, res: ServerResponse, call: number) => void;

const servers: ReturnType<typeof createServer>[] = [];

/** Registers the file's clean-up: the fake engines close after each test, the watchdog after the file. */
export function useFakeVllm() {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(closeServer));
  });
  afterAll(() => watchdog.close());
}

/** A local HTTP server answering each call with `answer`; `calls` lists what it received. */
export async function fakeVllm(answer: Answer) {
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
export function sse(res: ServerResponse, events: string[]) {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  for (const event of events) res.write(`data: ${event}\n\n`);
  res.end();
}

/** vLLM's JSONResponse. */
export function json(res: ServerResponse, text: string, status = 200) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

export const client = (url: string, timeouts: Partial<{ connect: number; first: number; stall: number }> = {}) =>
  createEngineClient({
    baseUrl: url,
    watchdog,
    connectTimeoutMs: timeouts.connect ?? 5000,
    firstTokenTimeoutMs: timeouts.first ?? 5000,
    stallTimeoutMs: timeouts.stall ?? 5000,
    profile: 'vllm',
  });

export const chatJob = (body: Record<string, unknown> = {}, endpoint = '/v1/chat/completions'): Job => ({
  id: 1,
  rangeId: 1,
  batchId: 'batch_abc',
  line: 1,
  model: 'm',
  endpoint,
  body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...body }),
});

/** Runs one job against `url` with three retries; returns what the worker would store, and the errors it counted. */
export async function run(url: string, job: Job, timeouts: Partial<{ connect: number; first: number; stall: number }> = {}) {
  const engine = client(url, timeouts);
  const errors: EngineOutcome[] = [];
  const gate = createEngineGate({ health: () => engine.health(), probeMs: 20 });
  const result = await runRequest(
    { client: engine, gate, maxRetries: 3, backoff: { baseMs: 1, maxMs: 5 }, onEngineError: (o) => errors.push(o) },
    job,
    new AbortController().signal,
  );
  gate.close();
  return { result, errors };
}

export const stored = (result: RequestResult | string | null) => result as RequestResult;

// A chat stream's chunks as chat_completion_stream_generator writes them (chat_completion/serving.py).
export const HEAD = '"id":"chatcmpl-batch_abc-1","object":"chat.completion.chunk","created":1747000000,"model":"m"';
export const roleChunk = (index = 0, promptTokenIds = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"prompt_token_ids":${promptTokenIds},"prompt_text":null}`;
export const deltaChunk = (delta: string, index = 0, tokenIds = 'null', logprobs = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":${delta},"logprobs":${logprobs},"finish_reason":null,"token_ids":${tokenIds}}]}`;
export const finishChunk = (finishReason: string, index = 0, delta = '{"content":""}', stopReason = 'null', tokenIds = 'null') =>
  `{${HEAD},"choices":[{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":${stopReason},"token_ids":${tokenIds}}]}`;
export const usageChunk = (usage: string, fingerprint = '"vllm-0.11.1-tp2-1a2b3c4d"') =>
  `{${HEAD},"choices":[],"usage":${usage},"system_fingerprint":${fingerprint}}`;

// chat_completion_full_generator's ChatCompletionResponse, as JSONResponse renders model_dump().
export const chatBody = (choices: string, usage: string, extra: { promptTokenIds?: string } = {}) =>
  `{"id":"chatcmpl-batch_abc-1","object":"chat.completion","created":1747000000,"model":"m","choices":[${choices}],"service_tier":null,"system_fingerprint":"vllm-0.11.1-tp2-1a2b3c4d","usage":${usage},"prompt_logprobs":null,"prompt_token_ids":${extra.promptTokenIds ?? 'null'},"prompt_text":null,"kv_transfer_params":null}`;
export const message = (content: string, rest: { toolCalls?: string; reasoning?: string } = {}) =>
  `{"role":"assistant","content":${content},"refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":${rest.toolCalls ?? '[]'},"reasoning":${rest.reasoning ?? 'null'}}`;
export const chatChoice = (index: number, msg: string, finish = 'stop', stopReason = 'null', tokenIds = 'null', logprobs = 'null') =>
  `{"index":${index},"message":${msg},"logprobs":${logprobs},"finish_reason":"${finish}","stop_reason":${stopReason},"token_ids":${tokenIds}}`;
