import type { EngineProfile } from './profile.ts';
import { engineBody } from './reassemble-engines.ts';

/** Builds the ordinary non-streaming response body from the chunks of a streamed one. */
export interface Assembler {
  push(chunk: Record<string, unknown>): void;
  /** The body vLLM would have returned without streaming, with usage. */
  result(): Record<string, unknown>;
  /**
   * Whether the engine aborted the request (shut down, paused, slept): a choice ended with
   * `finish_reason: "abort"`, or never ended. vLLM sends no chunk for a choice that has no token
   * yet ("chunked prefill case", chat_completion/serving.py and completion/serving.py), so a
   * request aborted while waiting streams only the role chunk (chat), the usage and [DONE].
   */
  aborted(): boolean;
}

/** What of the request the body depends on. */
export interface AssemblerRequest {
  /** `tool_choice` as the request gave it: a named or required tool call has `content: ""`, an automatic one null. */
  tool_choice?: unknown;
  /** How many choices the stream must end: n, times the prompts of a completion. */
  choices?: number;
}

/** A tool call as the chunks built it. */
export interface ToolCallState {
  id: string | null;
  type: string;
  name: string;
  args: string[];
}

/** One choice as the chunks built it. */
export interface ChoiceState {
  role: string;
  content: string[];
  reasoning: string[];
  tools: Map<number, ToolCallState>;
  logprobs: unknown[] | null;
  /** A text completion's logprobs: parallel arrays (text_offset, token_logprobs, tokens, top_logprobs), each joined. */
  textLogprobs: Record<string, unknown[]> | null;
  tokenIds: number[] | null;
  promptTokenIds: unknown;
  finishReason: unknown;
  stopReason: unknown;
  /** Fields of the engine's own on the choice (SGLang's matched_stop), other profiles than vLLM only. */
  extras: Record<string, unknown> | null;
}

/** What a stream built, for the body of an engine other than vLLM (reassemble-engines.ts). */
export interface Collected {
  kind: 'chat' | 'completion';
  head: { id?: unknown; created?: unknown; model?: unknown };
  systemFingerprint: unknown;
  usage: Record<string, unknown>;
  choices: [number, ChoiceState][];
  /** Top-level fields of the engine's own (llama-server's timings, SGLang's metadata), last value, in first-seen order. */
  extras: Record<string, unknown>;
  /** The name the engine streamed reasoning under: `reasoning` (vLLM) or `reasoning_content` (llama-server, SGLang, older vLLM). */
  reasoningKey: 'reasoning' | 'reasoning_content';
}

/** Top-level and choice fields every profile places itself; anything else an engine streams is its own. */
const KNOWN_TOP = new Set([
  'id',
  'object',
  'created',
  'model',
  'choices',
  'usage',
  'system_fingerprint',
  'prompt_token_ids',
  'prompt_text',
]);
const KNOWN_CHOICE = new Set(['index', 'delta', 'text', 'logprobs', 'finish_reason', 'stop_reason', 'token_ids', 'prompt_token_ids']);

type Delta = {
  role?: string;
  content?: string | null;
  reasoning?: string | null;
  /** vLLM before 2026 named the reasoning delta so. */
  reasoning_content?: string | null;
  tool_calls?: { index?: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
};

type Chunk = Record<string, unknown> & {
  delta?: Delta;
  text?: string | null;
  token_ids?: number[] | null;
  logprobs?: Record<string, unknown> | null;
};

const TEXT_LOGPROBS = ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs'] as const;

/**
 * An assembler for `chat.completion.chunk` or `text_completion` streams. The body has every
 * field of vLLM's ChatCompletionResponse / CompletionResponse in its declaration order, nulls
 * included: vLLM answers non-streamed requests with `model_dump()`, which excludes nothing
 * (entrypoints/openai/chat_completion/api_router.py), while chunks are dumped with
 * `exclude_unset` and the usage chunk with `exclude_none`.
 */
export function createAssembler(kind: 'chat' | 'completion', request: AssemblerRequest = {}, profile: EngineProfile = 'vllm'): Assembler {
  const head: { id?: unknown; created?: unknown; model?: unknown } = {};
  const own = profile !== 'vllm';
  const extras: Record<string, unknown> = {};
  let reasoningKey: Collected['reasoningKey'] = 'reasoning';
  let systemFingerprint: unknown = null;
  let promptTokenIds: unknown = null;
  let promptText: unknown = null;
  const choices = new Map<number, ChoiceState>();
  let usage: Record<string, unknown> | null = null;
  let tokenChunks = 0;

  const choice = (index: number) => {
    let state = choices.get(index);
    if (!state) {
      state = {
        role: 'assistant',
        content: [],
        reasoning: [],
        tools: new Map(),
        logprobs: null,
        textLogprobs: null,
        tokenIds: null,
        promptTokenIds: null,
        finishReason: null,
        stopReason: null,
        extras: null,
      };
      choices.set(index, state);
    }
    return state;
  };

  const pushChat = (state: ChoiceState, c: Chunk) => {
    const delta = c.delta ?? {};
    if (delta.role) state.role = delta.role;
    if (delta.content) {
      state.content.push(delta.content);
      tokenChunks++;
    }
    const reasoning = delta.reasoning ?? delta.reasoning_content;
    if (reasoning) {
      state.reasoning.push(reasoning);
      if (delta.reasoning_content) reasoningKey = 'reasoning_content';
    }
    for (const call of delta.tool_calls ?? []) {
      const i = call.index ?? 0;
      let tool = state.tools.get(i);
      if (!tool) state.tools.set(i, (tool = { id: null, type: 'function', name: '', args: [] }));
      if (call.id) tool.id = call.id;
      if (call.type) tool.type = call.type;
      if (call.function?.name) tool.name += call.function.name;
      if (call.function?.arguments) {
        tool.args.push(call.function.arguments);
        tokenChunks++;
      }
    }
    if (Array.isArray(c.logprobs?.content)) (state.logprobs ??= []).push(...c.logprobs.content.map(fullLogprob));
  };

  const pushCompletion = (state: ChoiceState, c: Chunk) => {
    if (c.text) {
      state.content.push(c.text);
      tokenChunks++;
    }
    if (c.prompt_token_ids != null) state.promptTokenIds = c.prompt_token_ids;
    // llama-server writes a completion's logprobs as chat does: {content: [...]} (server-task.cpp).
    if (Array.isArray(c.logprobs?.content)) (state.logprobs ??= []).push(...c.logprobs.content);
    else if (c.logprobs) {
      const joined = (state.textLogprobs ??= {});
      for (const key of TEXT_LOGPROBS) {
        const values = c.logprobs[key];
        if (Array.isArray(values)) (joined[key] ??= []).push(...values);
      }
    }
  };

  return {
    push(chunk) {
      if (head.id === undefined) {
        head.id = chunk.id;
        head.created = chunk.created;
        head.model = chunk.model;
      }
      // Since 2026-04 only the final chunk (the usage chunk when usage is asked) carries it.
      if (chunk.system_fingerprint != null) systemFingerprint = chunk.system_fingerprint;
      if (chunk.prompt_token_ids != null) promptTokenIds = chunk.prompt_token_ids;
      if (chunk.prompt_text != null) promptText = chunk.prompt_text;
      if (chunk.usage) usage = chunk.usage as Record<string, unknown>;
      if (own) keepOwn(chunk, KNOWN_TOP, extras);
      const list = chunk.choices as Chunk[] | undefined;
      if (!list) return;
      for (const c of list) {
        const state = choice(Number(c.index ?? 0));
        if (kind === 'chat') pushChat(state, c);
        else pushCompletion(state, c);
        if (Array.isArray(c.token_ids)) (state.tokenIds ??= []).push(...c.token_ids);
        if (c.finish_reason != null) state.finishReason = c.finish_reason;
        if (c.stop_reason != null) state.stopReason = c.stop_reason;
        if (own) keepOwn(c, KNOWN_CHOICE, (state.extras ??= {}));
      }
    },
    aborted: () =>
      choices.size < (request.choices ?? 1) || [...choices.values()].some((s) => s.finishReason === 'abort' || s.finishReason == null),
    result() {
      const ordered = [...choices.entries()].sort(([a], [b]) => a - b);
      const finalUsage = usage
        ? { ...usage, prompt_tokens_details: usage.prompt_tokens_details ?? null }
        : { prompt_tokens: 0, total_tokens: tokenChunks, completion_tokens: tokenChunks, prompt_tokens_details: null };
      if (own) {
        // Other engines' usage chunk is their body's usage as it is: only vLLM's body adds prompt_tokens_details: null.
        const engineUsage = usage ?? { prompt_tokens: 0, completion_tokens: tokenChunks, total_tokens: tokenChunks };
        return engineBody(profile, { kind, head, systemFingerprint, usage: engineUsage, choices: ordered, extras, reasoningKey });
      }
      if (kind === 'completion') {
        const out = ordered.map(([index, s]) => ({
          index,
          text: s.content.join(''),
          logprobs: s.textLogprobs && Object.fromEntries(TEXT_LOGPROBS.map((key) => [key, s.textLogprobs?.[key] ?? []])),
          finish_reason: s.finishReason,
          stop_reason: s.stopReason,
          token_ids: s.tokenIds,
          prompt_logprobs: null,
          prompt_token_ids: s.promptTokenIds,
        }));
        return {
          ...header(),
          choices: out,
          service_tier: null,
          system_fingerprint: systemFingerprint,
          usage: finalUsage,
          kv_transfer_params: null,
        };
      }
      const out = ordered.map(([index, s]) => ({
        index,
        message: chatMessage(s, request.tool_choice),
        logprobs: s.logprobs ? { content: s.logprobs } : null,
        finish_reason: s.finishReason,
        stop_reason: s.stopReason,
        token_ids: s.tokenIds,
      }));
      return {
        ...header(),
        choices: out,
        service_tier: null,
        system_fingerprint: systemFingerprint,
        usage: finalUsage,
        prompt_logprobs: null,
        prompt_token_ids: promptTokenIds,
        prompt_text: promptText,
        kv_transfer_params: null,
      };
    },
  };

  function header() {
    return { id: head.id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: head.created, model: head.model };
  }
}

/** Copies the fields of `from` that are not in `known` and not null into `into` (an engine's own fields). */
function keepOwn(from: Record<string, unknown>, known: ReadonlySet<string>, into: Record<string, unknown>) {
  for (const key in from) {
    if (known.has(key)) continue;
    const value = from[key];
    if (value != null) into[key] = value;
  }
}

/**
 * vLLM's non-streamed ChatMessage (chat_completion/protocol.py), field for field. `content`
 * follows chat_completion_full_generator: a named or required tool call gets "", a reasoning
 * parser or an automatic tool call with no text around it null (the parsers return None),
 * plain text as generated ("" when nothing was).
 */
function chatMessage(s: ChoiceState, toolChoice: unknown) {
  const text = s.content.join('');
  const toolCalls = [...s.tools.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args.join('') } }));
  const forcedTool = (typeof toolChoice === 'object' && toolChoice !== null) || toolChoice === 'required';
  const content = forcedTool ? '' : text || (toolCalls.length || s.reasoning.length ? null : '');
  return {
    role: s.role,
    content,
    refusal: null,
    annotations: null,
    audio: null,
    function_call: null,
    tool_calls: toolCalls,
    reasoning: s.reasoning.length ? s.reasoning.join('') : null,
  };
}

/**
 * A chat logprob entry with the fields a chunk leaves out: vLLM sets only `token` and `bytes`
 * for a sampled token outside the top logprobs, and chunks are dumped with `exclude_unset`,
 * while the non-streamed body shows the defaults (ChatCompletionLogProbsContent).
 */
function fullLogprob(entry: Record<string, unknown>): Record<string, unknown> {
  if ('logprob' in entry && 'bytes' in entry && 'top_logprobs' in entry) return entry;
  return { token: entry.token, logprob: entry.logprob ?? -9999.0, bytes: entry.bytes ?? null, top_logprobs: entry.top_logprobs ?? [] };
}
