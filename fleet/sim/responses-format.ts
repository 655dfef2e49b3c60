import type { ChoicePlan } from './content.ts';

/**
 * How vLLM writes a `/v1/responses` answer (entrypoints/openai/responses/, 2026-05): the
 * ResponsesResponse body and the SSE events of a stream. Paths below are under
 * vllm/entrypoints/openai/responses/.
 */

/** A number Python holds as a float: written `1.0`, not `1` (pydantic's `float` fields). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** JSON as pydantic's compact dump writes it: floats with their `.0`. */
export function pyJson(value: unknown): string {
  if (value instanceof PyFloat) return Number.isInteger(value.value) ? `${value.value}.0` : String(value.value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${pyJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** What frames one Responses reply: decided before generation, as ResponsesResponse.from_request reads them (protocol.py:678). */
export interface ResponsesFrame {
  id: string;
  createdAt: number;
  model: string;
  body: Record<string, unknown>;
  /** sampling_params.max_tokens: max_output_tokens capped by what the prompt leaves (serving.py get_max_tokens). */
  maxTokens: number;
  promptTokens: number;
  plan: ChoicePlan;
  /** A reasoning parser is configured: output items come from the parser (parser/abstract_parser.py:352). */
  parser: boolean;
}

const numberOr = (value: unknown, fallback: number) => new PyFloat(typeof value === 'number' ? value : fallback);

/** A function tool as openai's FunctionTool dumps it (every field, nulls included); other tools as given. */
const dumpTool = (tool: Record<string, unknown>) =>
  tool.type === 'function'
    ? {
        name: tool.name,
        parameters: tool.parameters ?? null,
        strict: tool.strict ?? null,
        type: 'function',
        description: tool.description ?? null,
      }
    : tool;

/**
 * tool_choice after check_tool_usage (protocol.py:554): "auto" or "none" without tools becomes "none".
 */
function toolChoice(body: Record<string, unknown>): unknown {
  const choice = body.tool_choice ?? 'auto';
  const tools = Array.isArray(body.tools) ? body.tools : [];
  return !tools.length && (choice === 'auto' || choice === 'none') ? 'none' : choice;
}

/** The pieces of the plan that are reasoning, and the content text. */
export function splitPlan(frame: ResponsesFrame, emitted = frame.plan.pieces.length) {
  const pieces = frame.plan.pieces.slice(0, emitted);
  const thinking = frame.parser ? Math.min(frame.plan.reasoning, pieces.length) : 0;
  return { reasoning: pieces.slice(0, thinking).join(''), content: pieces.slice(thinking).join(''), reasoningTokens: thinking };
}

/**
 * The output items of a finished reply. With a parser (serving.py:1041, abstract_parser.py:376):
 * a reasoning item when there is reasoning (`status: null`), a message only when there is text.
 * Without one (serving.py:1052): always one message, its content empty when no text came.
 */
export function outputItems(frame: ResponsesFrame, emitted: number, ids: { reasoning: string; message: string }) {
  const { reasoning, content } = splitPlan(frame, emitted);
  const text = { annotations: [], text: content, type: 'output_text', logprobs: null };
  const message = { id: ids.message, content: content ? [text] : [], role: 'assistant', status: 'completed', type: 'message' };
  if (!frame.parser) return [message];
  const items: unknown[] = [];
  if (reasoning)
    items.push({
      id: ids.reasoning,
      summary: [],
      type: 'reasoning',
      content: [{ text: reasoning, type: 'reasoning_text' }],
      encrypted_content: null,
      status: null,
    });
  if (content) items.push(message);
  return items;
}

/**
 * ResponsesResponse (protocol.py:593) as model_dump writes it: every field in declaration
 * order, nulls included. `usage` null and `output` empty in the events that open a stream.
 */
export function responseObject(frame: ResponsesFrame, status: string, output: unknown[], emitted: number | null) {
  const { body } = frame;
  const include = Array.isArray(body.include) && body.include.includes('message.output_text.logprobs');
  const text = body.text && typeof body.text === 'object' ? { format: null, verbosity: null, ...(body.text as object) } : null;
  const reasoning =
    body.reasoning && typeof body.reasoning === 'object'
      ? { effort: null, generate_summary: null, summary: null, ...(body.reasoning as object) }
      : null;
  const usage =
    emitted === null
      ? null
      : {
          input_tokens: frame.promptTokens,
          input_tokens_details: { cached_tokens: 0, input_tokens_per_turn: [], cached_tokens_per_turn: [] },
          output_tokens: emitted,
          output_tokens_details: {
            reasoning_tokens: splitPlan(frame, emitted).reasoningTokens,
            tool_output_tokens: 0,
            output_tokens_per_turn: [],
            tool_output_tokens_per_turn: [],
          },
          total_tokens: frame.promptTokens + emitted,
        };
  return {
    id: frame.id,
    created_at: frame.createdAt,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    metadata: body.metadata ?? null,
    model: frame.model,
    object: 'response',
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    temperature: numberOr(body.temperature, 1),
    tool_choice: toolChoice(body),
    tools: (Array.isArray(body.tools) ? body.tools : []).map(dumpTool),
    top_p: numberOr(body.top_p, 1),
    background: body.background ?? false,
    max_output_tokens: frame.maxTokens,
    max_tool_calls: body.max_tool_calls ?? null,
    previous_response_id: body.previous_response_id ?? null,
    prompt: null,
    reasoning,
    service_tier: body.service_tier ?? 'auto',
    status,
    text,
    top_logprobs: include ? (body.top_logprobs ?? 0) : null,
    truncation: body.truncation ?? 'disabled',
    usage,
    user: body.user ?? null,
    presence_penalty: numberOr(body.presence_penalty, 0),
    frequency_penalty: numberOr(body.frequency_penalty, 0),
    kv_transfer_params: null,
    input_messages: null,
    output_messages: null,
  };
}

/** The status of a finished reply (serving.py:797-845): "incomplete" when max_output_tokens ended it, else "completed" (also for an abort). */
export const finalStatus = (frame: ResponsesFrame, emitted: number) =>
  emitted === frame.plan.pieces.length && frame.plan.finishReason === 'length' ? 'incomplete' : 'completed';

/**
 * The events of a stream, as SimpleStreamingEventProcessor emits them (streaming_events.py:1121):
 * an item is opened when the output switches to it (reasoning, then content) and closed when
 * the next opens or the output ends. Each event is `event: TYPE` and the model_dump_json of
 * the event (api_router.py:34), numbered from 0 (serving.py:1490).
 */
export function createEventWriter(frame: ResponsesFrame) {
  let sequence = 0;
  let state: 'none' | 'reasoning' | 'content' = 'none';
  let outputIndex = 0;
  let itemId = '';
  let accumulated = '';
  // sequence_number comes before `text` (the .done events), and type last.
  const withType = (type: string, { text, ...fields }: Record<string, unknown>) =>
    `event: ${type}\ndata: ${pyJson({ ...fields, sequence_number: sequence++, ...(text === undefined ? {} : { text }), type })}\n\n`;

  const close = (): string => {
    if (state === 'none') return '';
    let out: string;
    if (state === 'reasoning') {
      const part = { text: accumulated, type: 'reasoning_text' };
      out =
        withType('response.reasoning_text.done', { content_index: 0, item_id: itemId, output_index: outputIndex, text: accumulated }) +
        withType('response.reasoning_part.done', { content_index: 0, item_id: itemId, output_index: outputIndex, part }) +
        withType('response.output_item.done', {
          item: { id: itemId, summary: [], type: 'reasoning', content: [part], encrypted_content: null, status: 'completed' },
          output_index: outputIndex,
        });
    } else {
      const part = { annotations: [], text: accumulated, type: 'output_text', logprobs: null };
      out =
        withType('response.output_text.done', {
          content_index: 0,
          item_id: itemId,
          logprobs: [],
          output_index: outputIndex,
          text: accumulated,
        }) +
        withType('response.content_part.done', { content_index: 0, item_id: itemId, output_index: outputIndex, part }) +
        withType('response.output_item.done', {
          item: { id: itemId, content: accumulated ? [part] : [], role: 'assistant', status: 'completed', type: 'message', summary: [] },
          output_index: outputIndex,
        });
    }
    outputIndex++;
    state = 'none';
    return out;
  };

  const open = (next: 'reasoning' | 'content'): string => {
    state = next;
    itemId = crypto.randomUUID().replace(/-/g, '');
    accumulated = '';
    if (next === 'reasoning') {
      return (
        withType('response.output_item.added', {
          item: { id: itemId, summary: [], type: 'reasoning', content: null, encrypted_content: null, status: 'in_progress' },
          output_index: outputIndex,
        }) +
        withType('response.reasoning_part.added', {
          content_index: 0,
          item_id: itemId,
          output_index: outputIndex,
          part: { text: '', type: 'reasoning_text' },
        })
      );
    }
    return (
      withType('response.output_item.added', {
        item: { id: itemId, content: [], role: 'assistant', status: 'in_progress', type: 'message' },
        output_index: outputIndex,
      }) +
      withType('response.content_part.added', {
        content_index: 0,
        item_id: itemId,
        output_index: outputIndex,
        part: { annotations: [], text: '', type: 'output_text', logprobs: [] },
      })
    );
  };

  return {
    /** response.created and response.in_progress, both with the in_progress response (serving.py:1510). */
    opening() {
      const response = responseObject(frame, 'in_progress', [], null);
      return withType('response.created', { response }) + withType('response.in_progress', { response });
    },
    /** The events of the k-th token: opening its item when the output switches to it. */
    token(k: number) {
      const piece = frame.plan.pieces[k] ?? '';
      if (!piece) return '';
      const target = frame.parser && k < frame.plan.reasoning ? 'reasoning' : 'content';
      const switched = state === target ? '' : close() + open(target);
      accumulated += piece;
      const delta =
        target === 'reasoning'
          ? withType('response.reasoning_text.delta', { content_index: 0, delta: piece, item_id: itemId, output_index: outputIndex })
          : withType('response.output_text.delta', {
              content_index: 0,
              delta: piece,
              item_id: itemId,
              logprobs: [],
              output_index: outputIndex,
            });
      return switched + delta;
    },
    /** Closes the open item and sends response.completed with the whole response (serving.py:1554-1576). */
    closing(emitted: number, ids: { reasoning: string; message: string }) {
      const response = responseObject(frame, finalStatus(frame, emitted), outputItems(frame, emitted, ids), emitted);
      return close() + withType('response.completed', { response });
    },
  };
}
