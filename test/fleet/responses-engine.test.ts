import { createServer } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngineClient } from '../../fleet/engine/client.ts';
import type { EngineOutcome } from '../../fleet/engine/outcome.ts';
import { createWatchdog } from '../../fleet/engine/watchdog.ts';
import type { SimulatorOptions } from '../../fleet/sim/index.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { serveSimulator, type ServedSimulator } from './helpers.ts';

const watchdog = createWatchdog(20);
afterAll(() => watchdog.close());
const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of running.splice(0)) await close();
});

async function serveSim(options: SimulatorOptions = {}): Promise<ServedSimulator> {
  const served = await serveSimulator({ ttftMs: 1, tpotMs: 1, outputTokens: 30, ...options });
  running.push(() => served.close());
  return served;
}

/** A server that answers /v1/responses with the given SSE text, recording the bodies it was sent. */
async function serveBytes(sse: string) {
  const sent: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (data) sent.push(JSON.parse(data));
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.end(sse);
    });
  });
  const url = await listenLocal(server);
  running.push(() => closeServer(server));
  return { url, sent };
}

const client = (url: string) =>
  createEngineClient({ baseUrl: `${url}/v1`, watchdog, connectTimeoutMs: 5000, firstTokenTimeoutMs: 5000, stallTimeoutMs: 5000 });
const ok = (outcome: EngineOutcome) => {
  if (outcome.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(outcome)}`);
  return outcome;
};
const sameBody = (r: Record<string, unknown>) => ({
  ...r,
  id: 'x',
  created_at: 0,
  output: (r.output as Record<string, unknown>[]).map((o) => ({ ...o, id: 'x' })),
});

// Bytes as vLLM writes them (responses/api_router.py:34: `event:` line, model_dump_json), a function call streamed (streaming_events.py:1032-1110).
const RESPONSE = (status: string, output: string, usage: string) =>
  `{"id":"resp_1","created_at":1,"incomplete_details":null,"instructions":null,"metadata":null,"model":"m","object":"response","output":${output},"parallel_tool_calls":true,"temperature":0.7,"tool_choice":"auto","tools":[{"name":"get","parameters":{},"strict":null,"type":"function","description":null}],"top_p":1.0,"background":false,"max_output_tokens":100,"max_tool_calls":null,"previous_response_id":null,"prompt":null,"reasoning":null,"service_tier":"auto","status":"${status}","text":null,"top_logprobs":null,"truncation":"disabled","usage":${usage},"user":null,"presence_penalty":0.0,"frequency_penalty":0.0,"kv_transfer_params":null,"input_messages":null,"output_messages":null}`;
const USAGE =
  '{"input_tokens":11,"input_tokens_details":{"cached_tokens":0,"input_tokens_per_turn":[],"cached_tokens_per_turn":[]},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0,"tool_output_tokens":0,"output_tokens_per_turn":[],"tool_output_tokens_per_turn":[]},"total_tokens":18}';
const CALL = '[{"arguments":"{\\"q\\": 1}","call_id":"call_9","name":"get","type":"function_call","id":"fc_1","status":"completed"}]';
const event = (type: string, data: string) => `event: ${type}\ndata: ${data}\n\n`;
const FUNCTION_STREAM =
  event('response.created', `{"response":${RESPONSE('in_progress', '[]', 'null')},"sequence_number":0,"type":"response.created"}`) +
  event('response.in_progress', `{"response":${RESPONSE('in_progress', '[]', 'null')},"sequence_number":1,"type":"response.in_progress"}`) +
  event(
    'response.output_item.added',
    '{"item":{"arguments":"","call_id":"call_9","name":"get","type":"function_call","id":"ab","status":"in_progress"},"output_index":0,"sequence_number":2,"type":"response.output_item.added"}',
  ) +
  event(
    'response.function_call_arguments.delta',
    '{"delta":"{\\"q\\"","item_id":"ab","output_index":0,"sequence_number":3,"type":"response.function_call_arguments.delta"}',
  ) +
  event(
    'response.function_call_arguments.delta',
    '{"delta":": 1}","item_id":"ab","output_index":0,"sequence_number":4,"type":"response.function_call_arguments.delta"}',
  ) +
  event(
    'response.function_call_arguments.done',
    '{"arguments":"{\\"q\\": 1}","item_id":"ab","name":"get","output_index":0,"sequence_number":5,"type":"response.function_call_arguments.done"}',
  ) +
  event(
    'response.output_item.done',
    `{"item":${CALL.slice(1, -1)},"output_index":0,"sequence_number":6,"type":"response.output_item.done"}`,
  );

describe('the engine client reassembles streamed /v1/responses', () => {
  it('streams a request and stores the body vLLM answers without streaming, field for field', async () => {
    const { url } = await serveSim({ reasoningParser: 'deepseek_r1' });
    const body = JSON.stringify({ model: 'sim-model', input: 'Summarise the report', max_output_tokens: 20, temperature: 0.5 });
    const streamed = ok(await client(url).call('/v1/responses', body));
    const plain = (await (
      await fetch(`${url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    ).text()) as string;
    expect(Object.keys(streamed.body)).toEqual(Object.keys(JSON.parse(plain)));
    expect(sameBody(streamed.body)).toEqual(sameBody(JSON.parse(plain)));
    // The stored text is vLLM's, floats as pydantic writes them.
    expect(streamed.text).toContain('"temperature":0.5');
    expect(streamed.text).toContain('"top_p":1.0');
    expect(JSON.parse(streamed.text as string)).toEqual(streamed.body);
    const usage = streamed.body.usage as { input_tokens: number; output_tokens: number };
    expect(streamed.promptTokens).toBe(usage.input_tokens);
    expect(streamed.completionTokens).toBe(usage.output_tokens);
    expect(streamed.completionTokens).toBeGreaterThan(0);
    expect(streamed.requestId).toBe(streamed.body.id);
  });

  it('sends stream true and no stream_options, and keeps response.completed as it came for a function call', async () => {
    const completed = event(
      'response.completed',
      `{"response":${RESPONSE('completed', CALL, USAGE)},"sequence_number":7,"type":"response.completed"}`,
    );
    const { url, sent } = await serveBytes(FUNCTION_STREAM + completed);
    const outcome = ok(
      await client(url).call(
        '/v1/responses',
        JSON.stringify({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'get', parameters: {} }] }),
      ),
    );
    expect(sent[0]).toMatchObject({ stream: true });
    expect(sent[0]).not.toHaveProperty('stream_options');
    expect(outcome.text).toBe(RESPONSE('completed', CALL, USAGE));
    expect((outcome.body.output as { arguments: string }[])[0]?.arguments).toBe('{"q": 1}');
    expect([outcome.promptTokens, outcome.completionTokens]).toEqual([11, 7]);
  });

  it('retries a stream that ends before response.completed, as vLLM leaves one whose engine raised', async () => {
    const { url } = await serveBytes(FUNCTION_STREAM);
    expect(await client(url).call('/v1/responses', JSON.stringify({ model: 'm', input: 'x' }))).toMatchObject({
      kind: 'retry',
      reason: 'incomplete',
    });
  });

  it('retries a response the engine cancelled (the harmony path of an abort)', async () => {
    const completed = event(
      'response.completed',
      `{"response":${RESPONSE('cancelled', CALL, USAGE)},"sequence_number":7,"type":"response.completed"}`,
    );
    const { url } = await serveBytes(FUNCTION_STREAM + completed);
    expect(await client(url).call('/v1/responses', JSON.stringify({ model: 'm', input: 'x' }))).toMatchObject({
      kind: 'retry',
      reason: 'engine_abort',
    });
  });

  it("rejects a 4xx error event mid-stream with vLLM's error body, without retry", async () => {
    const error = 'data: {"error": {"message": "bad", "type": "BadRequestError", "param": null, "code": 400}}\n\n';
    const { url } = await serveBytes(FUNCTION_STREAM.split('event: response.output_item.added')[0] + error);
    expect(await client(url).call('/v1/responses', JSON.stringify({ model: 'm', input: 'x' }))).toMatchObject({
      kind: 'rejected',
      statusCode: 400,
    });
  });

  it("passes the simulator's 400 for a missing input through as the request's own fault", async () => {
    const { url } = await serveSim();
    const outcome = await client(url).call('/v1/responses', JSON.stringify({ model: 'sim-model' }));
    expect(outcome).toMatchObject({ kind: 'rejected', statusCode: 400 });
  });
});
