/** Builds the ordinary non-streaming response body from the chunks of a streamed one. */
export interface Assembler {
  push(chunk: Record<string, unknown>): void;
  /** The body vLLM would have returned without streaming, with usage. */
  result(): Record<string, unknown>;
}

interface ToolCallState {
  id: string | null;
  type: string;
  name: string;
  args: string[];
}

interface ChoiceState {
  role: string;
  content: string[];
  reasoning: string[];
  tools: Map<number, ToolCallState>;
  logprobs: unknown[] | null;
  /** A text completion's logprobs: parallel arrays (tokens, token_logprobs, top_logprobs, text_offset), each joined. */
  textLogprobs: Record<string, unknown[]> | null;
  finishReason: unknown;
  stopReason: unknown;
}

type Delta = {
  role?: string;
  content?: string | null;
  text?: string | null;
  reasoning_content?: string | null;
  tool_calls?: { index?: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
};

/** An assembler for `chat.completion.chunk` or `text_completion` streams. */
export function createAssembler(kind: 'chat' | 'completion'): Assembler {
  const head: { id?: unknown; created?: unknown; model?: unknown; systemFingerprint?: unknown } = {};
  const choices = new Map<number, ChoiceState>();
  let usage: Record<string, unknown> | null = null;
  let tokenChunks = 0;

  const choice = (index: number) => {
    let state = choices.get(index);
    if (!state) {
      state = { role: 'assistant', content: [], reasoning: [], tools: new Map(), logprobs: null, textLogprobs: null, finishReason: null, stopReason: null };
      choices.set(index, state);
    }
    return state;
  };

  return {
    push(chunk) {
      if (head.id === undefined) {
        head.id = chunk.id;
        head.created = chunk.created;
        head.model = chunk.model;
        head.systemFingerprint = chunk.system_fingerprint;
      }
      if (chunk.usage) usage = chunk.usage as Record<string, unknown>;
      const list = chunk.choices as (Record<string, unknown> & { delta?: Delta })[] | undefined;
      if (!list) return;
      for (const c of list) {
        const state = choice(Number(c.index ?? 0));
        const delta: Delta = kind === 'chat' ? (c.delta ?? {}) : { text: c.text as string | null };
        if (delta.role) state.role = delta.role;
        const piece = kind === 'chat' ? delta.content : delta.text;
        if (piece) {
          state.content.push(piece);
          tokenChunks++;
        }
        if (delta.reasoning_content) state.reasoning.push(delta.reasoning_content);
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
        const logprobs = c.logprobs as Record<string, unknown> | null | undefined;
        if (kind === 'chat' && Array.isArray(logprobs?.content)) (state.logprobs ??= []).push(...logprobs.content);
        if (kind === 'completion' && logprobs) {
          const joined = (state.textLogprobs ??= {});
          for (const [key, values] of Object.entries(logprobs)) if (Array.isArray(values)) (joined[key] ??= []).push(...values);
        }
        if (c.finish_reason != null) state.finishReason = c.finish_reason;
        if (c.stop_reason != null) state.stopReason = c.stop_reason;
      }
    },
    result() {
      const out = [...choices.entries()].sort(([a], [b]) => a - b).map(([index, s]) => {
        const text = s.content.join('');
        if (kind === 'completion') return { index, text, logprobs: s.textLogprobs, finish_reason: s.finishReason, stop_reason: s.stopReason };
        const logprobs = s.logprobs ? { content: s.logprobs } : null;
        const toolCalls = [...s.tools.entries()]
          .sort(([a], [b]) => a - b)
          .map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args.join('') } }));
        const message: Record<string, unknown> = { role: s.role, content: text || (toolCalls.length ? null : ''), tool_calls: toolCalls };
        if (s.reasoning.length) message.reasoning_content = s.reasoning.join('');
        return { index, message, logprobs, finish_reason: s.finishReason, stop_reason: s.stopReason };
      });
      const body: Record<string, unknown> = {
        id: head.id,
        object: kind === 'chat' ? 'chat.completion' : 'text_completion',
        created: head.created,
        model: head.model,
        choices: out,
        usage: usage ?? { prompt_tokens: 0, total_tokens: tokenChunks, completion_tokens: tokenChunks },
      };
      if (head.systemFingerprint != null) body.system_fingerprint = head.systemFingerprint;
      return body;
    },
  };
}
