import type { Plan } from './content.ts';

/** The two generation endpoints the simulator serves. */
export type GenerationKind = 'chat' | 'completion';

/** Everything that frames one reply: ids, timestamps and the plan. */
export interface ReplyFrame {
  kind: GenerationKind;
  id: string;
  created: number;
  model: string;
  plan: Plan;
}

const usage = (plan: Plan) => ({
  prompt_tokens: plan.promptTokens,
  total_tokens: plan.promptTokens + plan.pieces.length,
  completion_tokens: plan.pieces.length,
  prompt_tokens_details: null,
});

/**
 * Formats the SSE events of a streamed reply, vLLM's way: a role chunk, one chunk per
 * token (the last carries finish_reason), then the usage chunk with empty choices when
 * `stream_options.include_usage` is set, then `[DONE]`. Token chunks are built by string
 * concatenation around a fixed prefix: a thousand streams decode each step.
 */
export function createChunkFormatter(frame: ReplyFrame) {
  const object = frame.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const head = `data: {"id":${JSON.stringify(frame.id)},"object":"${object}","created":${frame.created},"model":${JSON.stringify(frame.model)},"choices":[`;
  const { plan } = frame;
  const last = plan.pieces.length - 1;
  const end = (i: number) => (i === last ? `"${plan.finishReason}"` : 'null');
  const toolIndex = (i: number) => `{"index":0,"function":{"arguments":${JSON.stringify(plan.pieces[i])}}}`;
  return {
    /** The chunk that opens the reply (chat only): the assistant role, and the tool's name for a tool call. */
    opening(): string {
      if (frame.kind !== 'chat') return '';
      const delta = plan.tool
        ? `{"role":"assistant","content":null,"tool_calls":[{"id":${JSON.stringify(plan.tool.id)},"type":"function","index":0,"function":{"name":${JSON.stringify(plan.tool.name)},"arguments":""}}]}`
        : '{"role":"assistant","content":""}';
      return `${head}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":null}]}\n\n`;
    },
    token(i: number): string {
      if (frame.kind === 'completion') {
        return `${head}{"index":0,"text":${JSON.stringify(plan.pieces[i])},"logprobs":null,"finish_reason":${end(i)},"stop_reason":null}]}\n\n`;
      }
      const delta = plan.tool ? `{"tool_calls":[${toolIndex(i)}]}` : `{"content":${JSON.stringify(plan.pieces[i])}}`;
      return `${head}{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${end(i)}}]}\n\n`;
    },
    closing(includeUsage: boolean): string {
      const usageChunk = includeUsage ? `${head}],"usage":${JSON.stringify(usage(plan))}}\n\n` : '';
      return `${usageChunk}data: [DONE]\n\n`;
    },
  };
}

/** The non-streaming body of a reply: `chat.completion` or `text_completion`, with usage. */
export function replyBody(frame: ReplyFrame): Record<string, unknown> {
  const { plan } = frame;
  const text = plan.pieces.join('');
  const choice =
    frame.kind === 'chat'
      ? {
          index: 0,
          message: {
            role: 'assistant',
            content: plan.tool ? null : text,
            tool_calls: plan.tool
              ? [{ id: plan.tool.id, type: 'function', function: { name: plan.tool.name, arguments: text } }]
              : [],
          },
          logprobs: null,
          finish_reason: plan.finishReason,
          stop_reason: null,
        }
      : { index: 0, text, logprobs: null, finish_reason: plan.finishReason, stop_reason: null };
  return {
    id: frame.id,
    object: frame.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: frame.created,
    model: frame.model,
    choices: [choice],
    usage: usage(plan),
  };
}
