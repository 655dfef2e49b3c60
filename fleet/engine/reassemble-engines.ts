import type { EngineProfile } from './profile.ts';
import type { ChoiceState, Collected } from './reassemble.ts';

/**
 * The body an engine other than vLLM returns without streaming, built from what its stream
 * carried: its own fields kept (llama-server's `timings`, SGLang's `matched_stop` and
 * `metadata`), none of vLLM's added (no `stop_reason`, `token_ids`, `tool_calls: []`, null
 * message fields). Field order is each engine's.
 */
export function engineBody(profile: Exclude<EngineProfile, 'vllm'>, c: Collected): Record<string, unknown> {
  if (profile === 'llamacpp') return llamacppBody(c);
  if (profile === 'sglang') return sglangBody(c);
  return openaiBody(c);
}

/**
 * llama-server: server_task_result_cmpl_final::to_json_oaicompat_chat / to_json_oaicompat
 * (tools/server/server-task.cpp, nlohmann ordered_json): choices, created, model,
 * system_fingerprint, object, usage, id, then `timings`. A chat choice is finish_reason, index,
 * message, and logprobs only when there are some; a completion choice text, index, logprobs, finish_reason.
 */
function llamacppBody(c: Collected): Record<string, unknown> {
  const choices = c.choices.map(([index, s]) => {
    if (c.kind === 'completion')
      return { text: s.content.join(''), index, logprobs: s.logprobs ? { content: s.logprobs } : null, finish_reason: s.finishReason };
    return {
      finish_reason: s.finishReason,
      index,
      message: llamacppMessage(s),
      ...(s.logprobs ? { logprobs: { content: s.logprobs } } : {}),
    };
  });
  const object = c.kind === 'chat' ? 'chat.completion' : 'text_completion';
  return {
    choices,
    created: c.head.created,
    model: c.head.model,
    system_fingerprint: c.systemFingerprint,
    object,
    usage: c.usage,
    id: c.head.id,
    ...c.extras,
  };
}

/** common_chat_msg::to_json_oaicompat (common/chat.cpp): role, reasoning_content when any, content (null beside tool calls), tool_calls when any. */
function llamacppMessage(s: ChoiceState) {
  const text = s.content.join('');
  const calls = toolCalls(s).map((t) => ({ type: t.type, function: t.function, id: t.id }));
  return {
    role: s.role,
    ...(s.reasoning.length ? { reasoning_content: s.reasoning.join('') } : {}),
    content: !text && calls.length ? null : text,
    ...(calls.length ? { tool_calls: calls } : {}),
  };
}

/**
 * SGLang: ChatCompletionResponse / CompletionResponse (python/sglang/srt/entrypoints/openai/protocol.py):
 * id, object, created, model, choices, usage, metadata. A choice is index, message (role, content,
 * reasoning_content, tool_calls) or text, logprobs, finish_reason, matched_stop.
 */
function sglangBody(c: Collected): Record<string, unknown> {
  const choices = c.choices.map(([index, s]) => {
    const matched = s.extras?.matched_stop ?? null;
    if (c.kind === 'completion')
      return { index, text: s.content.join(''), logprobs: textLogprobs(s), finish_reason: s.finishReason, matched_stop: matched };
    const calls = toolCalls(s);
    const text = s.content.join('');
    const message = {
      role: s.role,
      content: !text && calls.length ? null : text,
      reasoning_content: s.reasoning.length ? s.reasoning.join('') : null,
      tool_calls: calls.length ? calls : null,
    };
    return { index, message, logprobs: s.logprobs ? { content: s.logprobs } : null, finish_reason: s.finishReason, matched_stop: matched };
  });
  const object = c.kind === 'chat' ? 'chat.completion' : 'text_completion';
  return {
    id: c.head.id,
    object,
    created: c.head.created,
    model: c.head.model,
    choices,
    usage: c.usage,
    metadata: c.extras.metadata ?? null,
  };
}

/**
 * Any other OpenAI-compatible server: OpenAI's shape (id, object, created, model, choices, usage)
 * with what the engine streamed besides (system_fingerprint, its own fields), and nothing invented.
 */
function openaiBody(c: Collected): Record<string, unknown> {
  const choices = c.choices.map(([index, s]) => {
    if (c.kind === 'completion')
      return { index, text: s.content.join(''), logprobs: textLogprobs(s), finish_reason: s.finishReason, ...s.extras };
    const calls = toolCalls(s);
    const text = s.content.join('');
    const message = {
      role: s.role,
      content: !text && (calls.length || s.reasoning.length) ? null : text,
      ...(s.reasoning.length ? { [c.reasoningKey]: s.reasoning.join('') } : {}),
      ...(calls.length ? { tool_calls: calls } : {}),
    };
    return { index, message, logprobs: s.logprobs ? { content: s.logprobs } : null, finish_reason: s.finishReason, ...s.extras };
  });
  const object = c.kind === 'chat' ? 'chat.completion' : 'text_completion';
  const fingerprint = c.systemFingerprint != null ? { system_fingerprint: c.systemFingerprint } : {};
  return { id: c.head.id, object, created: c.head.created, model: c.head.model, choices, usage: c.usage, ...fingerprint, ...c.extras };
}

function toolCalls(s: ChoiceState) {
  return [...s.tools.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args.join('') } }));
}

/** A completion's logprobs: the joined arrays (OpenAI's shape), or chat-style content entries. */
function textLogprobs(s: ChoiceState) {
  if (s.textLogprobs) return s.textLogprobs;
  return s.logprobs ? { content: s.logprobs } : null;
}
