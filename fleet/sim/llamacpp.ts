// llama.cpp's llama-server as the simulator plays it (--profile llamacpp). Read from
// ggml-org/llama.cpp tools/server/: server-context.cpp (routes, handle_completions_impl, /metrics,
// /v1/models), server-task.cpp (the result JSON), server-common.cpp (format_error_response),
// server-http.cpp (middlewares, the 404 handler), common/chat.cpp (to_json_oaicompat, the parser).
import type { ChoicePlan } from './content.ts';
import type { SimCounters } from './metrics.ts';
import type { SimOptions } from './options.ts';
import type { ChoiceEnd, ReplyFrame } from './replies.ts';

const q = JSON.stringify;

/** llama_build_info(): what llama-server writes as system_fingerprint ("b<build>-<commit>"). */
export const LLAMA_BUILD_INFO = 'b0-sim';

/** server-common.cpp format_error_response: the error type each status is written with. */
const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  500: 'server_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};

/** An error as llama-server writes it: `{"error":{"code","message","type"}}`, extra fields after. */
export function llamaError(
  status: number,
  message: string,
  extra: Record<string, unknown> = {},
  type = TYPES[status] ?? 'server_error',
): Response {
  return new Response(JSON.stringify({ error: { code: status, message, type, ...extra } }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

/** server-http.cpp set_error_handler: an unknown path. */
export const llamaNotFound = () => llamaError(404, 'File Not Found');

/** server-http.cpp middleware_server_state: every path while the model loads. */
export const llamaLoading = () => llamaError(503, 'Loading model');

/** server-context.cpp get_metrics without `--metrics`. */
export const llamaMetricsDisabled = () => llamaError(501, 'This server does not support metrics endpoint. Start it with `--metrics`');

/** The per-slot context (n_ctx / n_parallel): a request whose prompt reaches it is refused when its slot starts it. */
export function llamaContextError(promptTokens: number, slotContext: number): Response {
  return llamaError(
    400,
    `request (${promptTokens} tokens) exceeds the available context size (${slotContext} tokens), try increasing it`,
    { n_prompt_tokens: promptTokens, n_ctx: slotContext },
    'exceed_context_size_error',
  );
}

/** A C++ ostream's double: integers bare, others with 6 significant digits. */
const cppNumber = (value: number) => (Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6))));

/**
 * /metrics as server-context.cpp get_metrics writes it: counters then gauges, `llamacpp:` names,
 * no labels. requests_processing counts busy slots, requests_deferred the queued tasks.
 */
export function llamaMetrics(c: SimCounters, options: SimOptions): string {
  const seconds = (tokens: number, ms: number) => (tokens * ms) / 1000;
  const families: [string, 'counter' | 'gauge', string, number][] = [
    ['prompt_tokens_total', 'counter', 'Number of prompt tokens processed.', c.promptTokens],
    ['prompt_seconds_total', 'counter', 'Prompt process time', seconds(c.promptTokens, 0.1)],
    ['tokens_predicted_total', 'counter', 'Number of generation tokens processed.', c.generationTokens],
    ['tokens_predicted_seconds_total', 'counter', 'Predict process time', seconds(c.generationTokens, options.tpotMs)],
    ['n_decode_total', 'counter', 'Total number of llama_decode() calls', c.generationTokens],
    ['n_tokens_max', 'counter', 'Largest observed n_tokens.', options.maxNumBatchedTokens],
    ['n_busy_slots_per_decode', 'counter', 'Average number of busy slots per llama_decode() call', c.running],
    ['prompt_tokens_seconds', 'gauge', 'Average prompt throughput in tokens/s.', 0],
    ['predicted_tokens_seconds', 'gauge', 'Average generation throughput in tokens/s.', 1000 / options.tpotMs],
    ['requests_processing', 'gauge', 'Number of requests processing.', c.running],
    ['requests_deferred', 'gauge', 'Number of requests deferred.', c.waiting],
  ];
  return families
    .map(
      ([name, type, help, value]) =>
        `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${cppNumber(value)}\n`,
    )
    .join('');
}

/** server-context.cpp get_models: the Ollama-style `models` list, then the OpenAI `data` card with `meta`. */
export function llamaModels(options: SimOptions, slotContext: number) {
  const name = options.models[0] ?? options.source ?? 'sim-model';
  const details = { parent_model: '', format: 'gguf', family: '', families: [''], parameter_size: '', quantization_level: '' };
  return {
    models: [
      {
        name,
        model: name,
        modified_at: '',
        size: '',
        digest: '',
        type: 'model',
        description: '',
        tags: [''],
        capabilities: ['completion'],
        parameters: '',
        details,
      },
    ],
    object: 'list',
    data: [
      {
        id: name,
        object: 'model',
        created: Math.floor(Date.now() / 1000),
        owned_by: 'llamacpp',
        meta: {
          vocab_type: 2,
          n_vocab: 32000,
          n_ctx_train: slotContext * options.slots,
          n_embd: options.embeddingDim,
          n_params: 7_000_000_000,
          size: 4_000_000_000,
        },
      },
    ],
  };
}

/** result_timings::to_json: the prompt at ttft, each token at the step length. */
function timings(frame: ReplyFrame, predicted: number, options: { ttftMs: number; tpotMs: number }) {
  const promptMs = options.ttftMs;
  const predictedMs = predicted * options.tpotMs;
  return {
    cache_n: 0,
    prompt_n: frame.plan.promptTokens,
    prompt_ms: promptMs,
    prompt_per_token_ms: frame.plan.promptTokens ? promptMs / frame.plan.promptTokens : 0,
    prompt_per_second: promptMs ? (frame.plan.promptTokens * 1000) / promptMs : 0,
    predicted_n: predicted,
    predicted_ms: predictedMs,
    predicted_per_token_ms: options.tpotMs,
    predicted_per_second: 1000 / options.tpotMs,
  };
}

/** usage_json_oaicompat. */
const usage = (frame: ReplyFrame, completion: number) => ({
  completion_tokens: completion,
  prompt_tokens: frame.plan.promptTokens,
  total_tokens: completion + frame.plan.promptTokens,
  prompt_tokens_details: { cached_tokens: 0 },
});

/** finish_reason: "length" unless the model stopped (EOS or a stop word); "tool_calls" when the message holds calls. */
const finishOf = (frame: ReplyFrame, choice: ChoicePlan) =>
  choice.finishReason === 'length' ? 'length' : frame.plan.tool ? 'tool_calls' : 'stop';

/** common_chat_msg::to_json_oaicompat: role, reasoning_content when any, content (null beside tool calls), tool_calls when any. */
function chatMessage(frame: ReplyFrame, choice: ChoicePlan, emitted: number) {
  const pieces = choice.pieces.slice(0, emitted);
  const reasoning = pieces.slice(0, choice.reasoning).join('');
  const text = pieces.slice(choice.reasoning).join('');
  const tool = frame.plan.tool;
  return {
    role: 'assistant',
    ...(reasoning ? { reasoning_content: reasoning } : {}),
    content: tool ? null : text,
    ...(tool ? { tool_calls: [{ type: 'function', function: { name: tool.name, arguments: text }, id: tool.id }] } : {}),
  };
}

/** The non-streamed body: server_task_result_cmpl_final to_json_oaicompat_chat / to_json_oaicompat, `timings` last. */
export function llamaReplyBody(frame: ReplyFrame, ends: ChoiceEnd[], options: { ttftMs: number; tpotMs: number }): Record<string, unknown> {
  const choice = frame.plan.choices[0] as ChoicePlan;
  const emitted = (ends[0] as ChoiceEnd).emitted;
  const created = frame.created;
  const head =
    frame.kind === 'chat'
      ? {
          choices: [{ finish_reason: finishOf(frame, choice), index: 0, message: chatMessage(frame, choice, emitted) }],
          created,
          model: frame.model,
          system_fingerprint: LLAMA_BUILD_INFO,
          object: 'chat.completion',
        }
      : {
          choices: [{ text: choice.pieces.slice(0, emitted).join(''), index: 0, logprobs: null, finish_reason: finishOf(frame, choice) }],
          created,
          model: frame.model,
          system_fingerprint: LLAMA_BUILD_INFO,
          object: 'text_completion',
        };
  return { ...head, usage: usage(frame, emitted), id: frame.id, timings: timings(frame, emitted, options) };
}

/**
 * SSE events as llama-server streams them (server_task_result_cmpl_partial / _final): the first
 * token's result opens with a `{"role":"assistant","content":null}` delta, each token is a chunk,
 * the final result adds an empty delta with finish_reason and, with include_usage, a usage chunk
 * with empty choices; `timings` rides on the last of those; then `data: [DONE]`.
 */
export function createLlamaChunkFormatter(frame: ReplyFrame, options: { ttftMs: number; tpotMs: number }) {
  const chat = frame.kind === 'chat';
  const tail = `,"created":${frame.created},"id":${q(frame.id)},"model":${q(frame.model)},"system_fingerprint":${q(LLAMA_BUILD_INFO)},"object":"${chat ? 'chat.completion.chunk' : 'text_completion'}"`;
  const chunk = (choice: string, extra = '') => `data: {"choices":[${choice}]${tail}${extra}}\n\n`;
  const delta = (d: string) => chunk(`{"finish_reason":null,"index":0,"delta":${d}}`);
  const plan = frame.plan;
  return {
    opening: () => '',
    token(_i: number, k: number): string {
      const choice = plan.choices[0] as ChoicePlan;
      const piece = choice.pieces[k] as string;
      if (!chat) return chunk(`{"text":${q(piece)},"index":0,"logprobs":null,"finish_reason":null}`);
      let out = k === 0 ? delta('{"role":"assistant","content":null}') : '';
      if (plan.tool) {
        const call =
          k === 0
            ? `{"index":0,"id":${q(plan.tool.id)},"type":"function","function":{"name":${q(plan.tool.name)},"arguments":${q(piece)}}}`
            : `{"index":0,"function":{"arguments":${q(piece)}}}`;
        out += delta(`{"tool_calls":[${call}]}`);
      } else {
        out += delta(k < choice.reasoning ? `{"reasoning_content":${q(piece)}}` : `{"content":${q(piece)}}`);
      }
      return out;
    },
    aborted: () => '',
    closing(completionTokens: number): string {
      const choice = plan.choices[0] as ChoicePlan;
      const time = `,"timings":${q(timings(frame, completionTokens, options))}`;
      const finish = chat
        ? `{"finish_reason":"${finishOf(frame, choice)}","index":0,"delta":{}}`
        : `{"text":"","index":0,"logprobs":null,"finish_reason":"${finishOf(frame, choice)}"}`;
      const usageChunk = frame.includeUsage || !chat ? `,"usage":${q(usage(frame, completionTokens))}` : '';
      if (!chat) return `${chunk(finish, `${usageChunk}${time}`)}data: [DONE]\n\n`;
      const last = frame.includeUsage ? `${chunk(finish)}data: {"choices":[]${tail}${usageChunk}${time}}\n\n` : chunk(finish, time);
      return `${last}data: [DONE]\n\n`;
    },
  };
}

/**
 * common/chat.cpp common_chat_peg_parse: a final parse that fails throws "Failed to parse input at
 * pos N: <the rest>", which the server answers 500 server_error (or, streaming, as an error event
 * with no [DONE] after it). The position is fixed by the text, so a retry fails the same way.
 */
export function formatErrorMessage(text: string): string {
  const pos = Math.floor(text.length / 2);
  return `Failed to parse input at pos ${pos}: ${text.slice(pos)}`;
}

/** The streamed form of an error after the 200 (format_oai_sse of `{"error": ...}`): llama-server sends no [DONE] after it. */
export const llamaStreamError = (status: number, message: string) =>
  `data: ${q({ error: { code: status, message, type: TYPES[status] ?? 'server_error' } })}\n\n`;
