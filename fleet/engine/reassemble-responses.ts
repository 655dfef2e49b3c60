/**
 * The non-streamed body of a streamed `/v1/responses` call. vLLM ends the stream with
 * response.completed, whose `response` it builds by calling responses_full_generator, the very
 * function that builds the non-streamed body, on the context the stream accumulated
 * (vllm/entrypoints/openai/responses/serving.py:1554-1576 and :773; the context keeps the whole
 * text, token ids and logprobs, responses/context.py:186 SimpleContext.append_output). So that
 * event's `response` is the body field for field, and its text is kept as vLLM wrote it
 * (pydantic's floats such as `"temperature":1.0`). The deltas before it (output_text,
 * reasoning_text, function_call_arguments) are what a client shows live; here they only keep
 * the stall watchdog fed, and are not parsed, which saves a JSON.parse per token.
 *
 * Two bodies differ from the non-streamed one by nature, not by the stream: the output items'
 * ids (`msg_`, `rs_`, `fc_` + a fresh uuid on every build, responses/serving.py:1060 and
 * parser/abstract_parser.py:378) and `created_at`.
 */
export interface ResponsesAssembler {
  /** One event's data, as it came. */
  push(data: string): void;
  /** The final response: the body and its text as vLLM wrote it; null until response.completed (or .incomplete) came. */
  result(): { body: Record<string, unknown>; text: string } | null;
  /** An error the stream carried (vLLM's ErrorResponse, or an OpenAI `error` / `response.failed` event), as it came. */
  error(): string | null;
}

/** The tail of a final event as pydantic dumps it: `response` first, then sequence_number and type (openai's ResponseCompletedEvent). */
const FINAL_TAIL = /,"sequence_number":\d+,"type":"response\.(completed|incomplete)"\}$/;
const FINAL_HEAD = '{"response":';

/** Creates the assembler for one stream. */
export function createResponsesAssembler(): ResponsesAssembler {
  let final: { body: Record<string, unknown>; text: string } | null = null;
  let error: string | null = null;
  return {
    push(data) {
      if (data.startsWith('{"error"')) {
        error ??= data;
        return;
      }
      if (data.startsWith(FINAL_HEAD)) {
        const event = JSON.parse(data) as { type?: string; response?: Record<string, unknown> };
        if (event.type === 'response.failed') {
          error ??= JSON.stringify({ error: event.response?.error ?? { message: 'the engine reported response.failed', code: 500 } });
          return;
        }
        if ((event.type !== 'response.completed' && event.type !== 'response.incomplete') || !event.response) return;
        const match = FINAL_TAIL.exec(data);
        // The member's text as vLLM wrote it; re-serialized only when the event is laid out otherwise.
        final = { body: event.response, text: match ? data.slice(FINAL_HEAD.length, match.index) : JSON.stringify(event.response) };
        return;
      }
      // OpenAI's ResponseErrorEvent: {"code", "message", "param", "sequence_number", "type": "error"}.
      if (data.includes('"type":"error"') && data.endsWith('"type":"error"}')) error ??= data;
    },
    result: () => final,
    error: () => error,
  };
}
