import type { ChoicePlan, Plan } from './content.ts';
import { chatLogprobs, completionLogprobs, promptLogprobs } from './logprobs.ts';

/** The two generation endpoints the simulator serves. */
export type GenerationKind = 'chat' | 'completion';

/** Everything that frames one reply: ids, timestamps, the plan and what the request asked to see. */
export interface ReplyFrame {
  kind: GenerationKind;
  id: string;
  created: number;
  /** The first served name: vLLM answers with it whichever alias the request named. */
  model: string;
  plan: Plan;
  systemFingerprint: string;
  /** Chat: top_logprobs when logprobs is true; completions: logprobs. Null when not asked. */
  logprobs: number | null;
  /** prompt_logprobs (non-streamed only), or null. */
  promptLogprobs: number | null;
  returnTokenIds: boolean;
  includeUsage: boolean;
  /** False when a reasoning model's request sets include_reasoning: false. */
  includeReasoning: boolean;
}

/** How far a choice got: every token, or fewer when the engine aborted it. */
export interface ChoiceEnd {
  /** Tokens emitted; the plan's full length unless aborted. */
  emitted: number;
  aborted: boolean;
}

const q = JSON.stringify;

/** The usage of a reply: UsageInfo's fields in its order (engine/protocol.py). */
const usage = (plan: Plan, completionTokens: number) => ({
  prompt_tokens: plan.promptTokens,
  total_tokens: plan.promptTokens + completionTokens,
  completion_tokens: completionTokens,
});

/** The finish_reason the API reports: tool calls by `auto`/`required` become "tool_calls" (chat_completion/serving.py). */
export function apiFinishReason(frame: ReplyFrame, choice: ChoicePlan, end: ChoiceEnd): string {
  if (end.aborted) return 'abort';
  const tool = frame.plan.tool;
  if (frame.kind === 'chat' && tool && (tool.mode === 'auto' || (tool.mode === 'required' && choice.finishReason === 'stop')))
    return 'tool_calls';
  return choice.finishReason;
}

const promptTokenIds = (frame: ReplyFrame) =>
  frame.returnTokenIds ? Array.from({ length: frame.plan.promptTokens }, (_, i) => 100 + i) : null;

/**
 * Formats the SSE events of a streamed reply as vLLM's serving code does with
 * `model_dump_json(exclude_unset=True)`: per choice a role chunk (chat), one chunk per token
 * (the last carries finish_reason and stop_reason), then the usage chunk with empty choices when
 * `stream_options.include_usage` is set, then `[DONE]`. system_fingerprint rides only on the
 * usage chunk, or on the finishing chunks when there is none. Token chunks are built by string
 * concatenation around a fixed prefix: a thousand streams decode each step.
 */
export function createChunkFormatter(frame: ReplyFrame) {
  const chat = frame.kind === 'chat';
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const head = `data: {"id":${q(frame.id)},"object":"${object}","created":${frame.created},"model":${q(frame.model)},"choices":[`;
  const fingerprint = `,"system_fingerprint":${q(frame.systemFingerprint)}`;
  const { plan } = frame;
  const offsets = plan.choices.map(() => 0);
  const tokenIds = (choice: ChoicePlan, k: number) => (frame.returnTokenIds ? `[${choice.tokenIds[k]}]` : 'null');
  const logprobsOf = (choice: ChoicePlan, k: number, i: number) => {
    if (frame.logprobs === null) return 'null';
    if (chat) return q({ content: chatLogprobs(choice, k, k + 1, frame.logprobs) });
    const value = completionLogprobs(choice, k, k + 1, frame.logprobs, offsets[i] as number);
    return q(value);
  };
  const delta = (choice: ChoicePlan, k: number): string | null => {
    const piece = choice.pieces[k] as string;
    if (plan.tool) {
      const call =
        k === 0
          ? `{"id":${q(plan.tool.id)},"type":"function","index":0,"function":{"name":${q(plan.tool.name)},"arguments":${q(piece)}}}`
          : `{"index":0,"function":{"arguments":${q(piece)}}}`;
      return `{"tool_calls":[${call}]}`;
    }
    if (k < choice.reasoning) return frame.includeReasoning ? `{"reasoning":${q(piece)}}` : null;
    return `{"content":${q(piece)}}`;
  };
  const finish = (reason: string, stop: string | null) => `,"finish_reason":${q(reason)},"stop_reason":${q(stop)}`;
  return {
    /** The chunks that open a chat reply, one per choice, sent with its first output. */
    opening(): string {
      if (!chat) return '';
      const ids = q(promptTokenIds(frame));
      return plan.choices
        .map(
          (_, i) =>
            `${head}{"index":${i},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"prompt_token_ids":${ids},"prompt_text":null}\n\n`,
        )
        .join('');
    },
    /** The chunk of choice `i`'s token `k`; empty when vLLM sends none for it. */
    token(i: number, k: number): string {
      const choice = plan.choices[i] as ChoicePlan;
      const last = k === choice.pieces.length - 1;
      const end = last
        ? finish(apiFinishReason(frame, choice, { emitted: k + 1, aborted: false }), choice.stopReason)
        : ',"finish_reason":null';
      const tail = last && !frame.includeUsage ? fingerprint : '';
      const logprobs = logprobsOf(choice, k, i);
      if (!chat) {
        const promptIds = k === 0 && frame.returnTokenIds ? q(promptTokenIds(frame)) : 'null';
        offsets[i] = (offsets[i] as number) + (choice.pieces[k] as string).length;
        const stop = last ? `,"stop_reason":${q(choice.stopReason)}` : ',"stop_reason":null';
        return `${head}{"index":${i},"text":${q(choice.pieces[k])},"logprobs":${logprobs},"finish_reason":${last ? q(choice.finishReason) : 'null'}${stop},"prompt_token_ids":${promptIds},"token_ids":${tokenIds(choice, k)}}]${tail}}\n\n`;
      }
      const d = delta(choice, k);
      if (d === null && !last) return '';
      return `${head}{"index":${i},"delta":${d ?? '{}'},"logprobs":${logprobs}${end},"token_ids":${tokenIds(choice, k)}}]${tail}}\n\n`;
    },
    /**
     * The chunk of choice `i` when the engine aborts it after `emitted` tokens: an empty delta with
     * finish_reason "abort"; none at all before its first token (serving.py skips empty outputs).
     */
    aborted(i: number, emitted: number): string {
      if (emitted === 0) return '';
      const tail = frame.includeUsage ? '' : fingerprint;
      if (!chat) {
        const logprobs = frame.logprobs === null ? 'null' : q({ text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] });
        return `${head}{"index":${i},"text":"","logprobs":${logprobs},"finish_reason":"abort","stop_reason":null,"prompt_token_ids":null,"token_ids":${frame.returnTokenIds ? '[]' : 'null'}}]${tail}}\n\n`;
      }
      const logprobs = frame.logprobs === null ? 'null' : '{"content":[]}';
      const d = plan.tool || (plan.choices[i] as ChoicePlan).reasoning ? '{}' : '{"content":""}';
      return `${head}{"index":${i},"delta":${d},"logprobs":${logprobs},"finish_reason":"abort","stop_reason":null,"token_ids":${frame.returnTokenIds ? '[]' : 'null'}}]${tail}}\n\n`;
    },
    /** The usage chunk (when asked for) and `[DONE]`. */
    closing(completionTokens: number): string {
      const usageChunk = frame.includeUsage ? `${head}],"usage":${q(usage(plan, completionTokens))}${fingerprint}}\n\n` : '';
      return `${usageChunk}data: [DONE]\n\n`;
    },
  };
}

/** The message of a chat choice: ChatMessage's fields in order (chat_completion/protocol.py). */
function chatMessage(frame: ReplyFrame, choice: ChoicePlan, emitted: number) {
  const pieces = choice.pieces.slice(0, emitted);
  const reasoning = choice.reasoning && frame.includeReasoning ? pieces.slice(0, choice.reasoning).join('') : null;
  const text = pieces.slice(choice.reasoning).join('');
  const tool = frame.plan.tool;
  return {
    role: 'assistant',
    // A named or required tool call has content "" (serving.py); an auto one, the parser's null.
    content: tool ? (tool.mode === 'auto' ? null : '') : text,
    refusal: null,
    annotations: null,
    audio: null,
    function_call: null,
    tool_calls: tool ? [{ id: tool.id, type: 'function', function: { name: tool.name, arguments: text } }] : [],
    reasoning,
  };
}

/**
 * The non-streamed body, field for field and in order as vLLM's `model_dump()` of
 * ChatCompletionResponse or CompletionResponse; `ends` says how far each choice got.
 */
export function replyBody(
  frame: ReplyFrame,
  ends: ChoiceEnd[] = frame.plan.choices.map((c) => ({ emitted: c.pieces.length, aborted: false })),
): Record<string, unknown> {
  const { plan } = frame;
  const completionTokens = ends.reduce((n, e) => n + e.emitted, 0);
  const promptIds = promptTokenIds(frame);
  const prompt = frame.promptLogprobs === null ? null : promptLogprobs(plan.promptText, frame.promptLogprobs);
  const stopOf = (choice: ChoicePlan, end: ChoiceEnd) => (end.aborted ? null : choice.stopReason);
  const reasonOf = (choice: ChoicePlan, end: ChoiceEnd) => (end.aborted ? 'abort' : choice.finishReason);
  if (frame.kind === 'chat') {
    return {
      id: frame.id,
      object: 'chat.completion',
      created: frame.created,
      model: frame.model,
      choices: plan.choices.map((choice, index) => {
        const end = ends[index] as ChoiceEnd;
        return {
          index,
          message: chatMessage(frame, choice, end.emitted),
          logprobs: frame.logprobs === null ? null : { content: chatLogprobs(choice, 0, end.emitted, frame.logprobs) },
          finish_reason: apiFinishReason(frame, choice, end),
          stop_reason: stopOf(choice, end),
          token_ids: frame.returnTokenIds ? choice.tokenIds.slice(0, end.emitted) : null,
        };
      }),
      service_tier: null,
      system_fingerprint: frame.systemFingerprint,
      usage: { ...usage(plan, completionTokens), prompt_tokens_details: null },
      prompt_logprobs: prompt,
      prompt_token_ids: promptIds,
      prompt_text: null,
      kv_transfer_params: null,
    };
  }
  return {
    id: frame.id,
    object: 'text_completion',
    created: frame.created,
    model: frame.model,
    choices: plan.choices.map((choice, index) => {
      const end = ends[index] as ChoiceEnd;
      return {
        index,
        text: choice.pieces.slice(0, end.emitted).join(''),
        logprobs: frame.logprobs === null ? null : completionLogprobs(choice, 0, end.emitted, frame.logprobs, 0),
        finish_reason: reasonOf(choice, end),
        stop_reason: stopOf(choice, end),
        token_ids: frame.returnTokenIds ? choice.tokenIds.slice(0, end.emitted) : null,
        prompt_logprobs: prompt,
        prompt_token_ids: promptIds,
      };
    }),
    service_tier: null,
    system_fingerprint: frame.systemFingerprint,
    usage: { ...usage(plan, completionTokens), prompt_tokens_details: null },
    kv_transfer_params: null,
  };
}
