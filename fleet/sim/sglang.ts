// SGLang as the simulator plays it (--profile sglang). Read from sgl-project/sglang
// python/sglang/srt/: entrypoints/openai/serving_base.py (create_error_response and its streaming
// twin), protocol.py (ErrorResponse, the response models with matched_stop), sse_utils.py (the
// stream chunks: msgspec structs, reasoning_content always present in a delta), metrics/collector.py
// (sglang:num_running_reqs, sglang:num_queue_reqs, sglang:token_usage, label model_name).
import type { ChoicePlan } from './content.ts';
import { goFloat, type SimCounters } from './metrics.ts';
import type { ChoiceEnd, ReplyFrame } from './replies.ts';

const q = JSON.stringify;

/** The token id SGLang reports as matched_stop when the model stopped at its EOS token. */
export const SGLANG_EOS_TOKEN_ID = 2;

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

/** ErrorResponse.model_dump() through ORJSONResponse: not wrapped in "error", `object` first. */
export function sglangError(status: number, message: string, param: string | null = null): Response {
  return new Response(JSON.stringify({ object: 'error', message, type: TYPES[status] ?? 'BadRequestError', param, code: status }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** SGLang's gauges (--enable-metrics), labelled with the served model name, as prometheus_client floats. */
export function sglangMetrics(model: string, c: SimCounters): string {
  const label = `{model_name=${q(model)}}`;
  const gauge = (name: string, help: string, value: number) =>
    `# HELP sglang:${name} ${help}\n# TYPE sglang:${name} gauge\nsglang:${name}${label} ${goFloat(value)}\n`;
  return [
    gauge('num_running_reqs', 'The number of running requests.', c.running),
    gauge('num_queue_reqs', 'The number of requests in the waiting queue.', c.waiting),
    gauge('token_usage', 'The token usage.', c.kvUsage),
    `# HELP sglang:prompt_tokens_total Number of prefill tokens processed.\n# TYPE sglang:prompt_tokens_total counter\nsglang:prompt_tokens_total${label} ${goFloat(c.promptTokens)}\n`,
    `# HELP sglang:generation_tokens_total Number of generation tokens processed.\n# TYPE sglang:generation_tokens_total counter\nsglang:generation_tokens_total${label} ${goFloat(c.generationTokens)}\n`,
  ].join('');
}

/** matched_stop: the stop string that ended the output, the EOS token id, or null for a length stop. */
const matchedStop = (choice: ChoicePlan, end: ChoiceEnd) =>
  end.aborted || choice.finishReason === 'length' ? null : (choice.stopReason ?? SGLANG_EOS_TOKEN_ID);
const finishOf = (frame: ReplyFrame, choice: ChoicePlan, end: ChoiceEnd) =>
  end.aborted ? 'abort' : choice.finishReason === 'stop' && frame.plan.tool ? 'tool_calls' : choice.finishReason;
const usage = (frame: ReplyFrame, completion: number) => ({
  prompt_tokens: frame.plan.promptTokens,
  total_tokens: frame.plan.promptTokens + completion,
  completion_tokens: completion,
  prompt_tokens_details: null,
  reasoning_tokens: 0,
});

/** ChatCompletionResponse / CompletionResponse model_dump(): matched_stop in each choice, no system_fingerprint. */
export function sglangReplyBody(frame: ReplyFrame, ends: ChoiceEnd[]): Record<string, unknown> {
  const completion = ends.reduce((n, e) => n + e.emitted, 0);
  const choices = frame.plan.choices.map((choice, index) => {
    const end = ends[index] as ChoiceEnd;
    const pieces = choice.pieces.slice(0, end.emitted);
    const text = pieces.slice(choice.reasoning).join('');
    if (frame.kind !== 'chat')
      return {
        index,
        text: pieces.join(''),
        logprobs: null,
        finish_reason: finishOf(frame, choice, end),
        matched_stop: matchedStop(choice, end),
      };
    const tool = frame.plan.tool;
    const message = {
      role: 'assistant',
      content: tool ? null : text,
      reasoning_content: choice.reasoning ? pieces.slice(0, choice.reasoning).join('') : null,
      tool_calls: tool ? [{ id: tool.id, index: 0, type: 'function', function: { name: tool.name, arguments: text } }] : null,
    };
    return { index, message, logprobs: null, finish_reason: finishOf(frame, choice, end), matched_stop: matchedStop(choice, end) };
  });
  const object = frame.kind === 'chat' ? 'chat.completion' : 'text_completion';
  return { id: frame.id, object, created: frame.created, model: frame.model, choices, usage: usage(frame, completion), metadata: null };
}

/**
 * SSE chunks as SGLang's serving_chat builds them with sse_utils.py: a role chunk per choice, then
 * one chunk per token whose delta always carries `reasoning_content` (null unless reasoning), then
 * a chunk with an empty delta, finish_reason and matched_stop; the usage chunk with empty choices
 * when include_usage; `[DONE]`. No system_fingerprint, no token_ids, no stop_reason.
 */
export function createSglangChunkFormatter(frame: ReplyFrame) {
  const chat = frame.kind === 'chat';
  const head = `data: {"id":${q(frame.id)},"object":"${chat ? 'chat.completion.chunk' : 'text_completion'}","created":${frame.created},"model":${q(frame.model)},"choices":[`;
  const choiceChunk = (i: number, body: string, finish = 'null', matched = 'null') =>
    chat
      ? `${head}{"index":${i},"delta":${body},"logprobs":null,"finish_reason":${finish},"matched_stop":${matched}}]}\n\n`
      : `${head}{"index":${i},"text":${body},"logprobs":null,"finish_reason":${finish},"matched_stop":${matched}}],"usage":null}\n\n`;
  const plan = frame.plan;
  return {
    opening: () =>
      chat ? plan.choices.map((_, i) => choiceChunk(i, '{"reasoning_content":null,"role":"assistant","content":""}')).join('') : '',
    token(i: number, k: number): string {
      const choice = plan.choices[i] as ChoicePlan;
      const piece = choice.pieces[k] as string;
      let out: string;
      if (!chat) out = choiceChunk(i, q(piece));
      else if (plan.tool) {
        const call =
          k === 0
            ? `{"id":${q(plan.tool.id)},"index":0,"type":"function","function":{"name":${q(plan.tool.name)},"arguments":${q(piece)}}}`
            : `{"index":0,"function":{"arguments":${q(piece)}}}`;
        out = choiceChunk(i, `{"reasoning_content":null,"tool_calls":[${call}]}`);
      } else
        out = choiceChunk(
          i,
          k < choice.reasoning ? `{"reasoning_content":${q(piece)}}` : `{"reasoning_content":null,"content":${q(piece)}}`,
        );
      if (k === choice.pieces.length - 1) {
        const end = { emitted: k + 1, aborted: false };
        out += choiceChunk(i, chat ? '{"reasoning_content":null}' : '""', q(finishOf(frame, choice, end)), q(matchedStop(choice, end)));
      }
      return out;
    },
    aborted: (i: number, emitted: number) => (emitted === 0 ? '' : choiceChunk(i, chat ? '{"reasoning_content":null}' : '""', '"abort"')),
    closing(completionTokens: number): string {
      const usageChunk = frame.includeUsage ? `${head}],"usage":${q(usage(frame, completionTokens))}}\n\n` : '';
      return `${usageChunk}data: [DONE]\n\n`;
    },
  };
}

/** The error event of a stream after its 200: json.dumps({"error": ErrorResponse}) with Python's spacing. */
export function sglangStreamError(status: number, message: string): string {
  return `data: {"error": {"object": "error", "message": ${q(message)}, "type": ${q(TYPES[status] ?? 'BadRequestError')}, "param": null, "code": ${status}}}\n\n`;
}
