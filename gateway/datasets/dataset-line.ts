import { AppError } from '../../core/errors.ts';
import type { DatasetRow } from '../../schema/index.ts';
import { renderMessages } from './render-messages.ts';
import { responsesAnswer, responsesMessages } from './responses.ts';

/** The formats of a dataset: OpenAI's chat fine-tuning lines, or prompt/completion pairs. */
export type DatasetFormat = 'OPENAI_CHAT' | 'PROMPT_COMPLETION';

/** The endpoints whose results make dataset lines: a conversation or a prompt, and a text answer. */
export const DATASET_ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/responses'] as const;

/** Where a row comes from, for the errors that name it. */
interface RowSource {
  batchId: string;
  endpoint: string;
}

type Json = Record<string, unknown>;

/** What a request asked: a conversation (chat, responses) or a prompt (completions); a string says why neither. */
type Asked = { messages: unknown[] } | { prompt: string } | string;

const unusable = (source: RowSource, row: DatasetRow, what: string) =>
  new AppError(
    'BAD_REQUEST',
    `Batch ${source.batchId}, custom_id ${row.customId} (line ${row.line}): ${what}. Give it a correction (annotateResult), or leave it out of the export (take away its gold star, or filter by labels).`,
    { param: 'batchIds' },
  );

function parse(text: string): Json {
  const value = JSON.parse(text) as unknown;
  return typeof value === 'object' && value !== null ? (value as Json) : {};
}

function asked(endpoint: string, body: Json): Asked {
  if (endpoint === '/v1/chat/completions') return { messages: Array.isArray(body.messages) ? body.messages : [] };
  if (endpoint === '/v1/responses') {
    const messages = responsesMessages(body);
    return typeof messages === 'string' ? messages : { messages };
  }
  const { prompt } = body;
  if (typeof prompt === 'string') return { prompt };
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') return { prompt: prompt[0] };
  return 'body.prompt is not one text prompt (token ids, or several prompts)';
}

/** The model's answer as text: the first choice's message content (chat) or text (completions), a response's output text. */
function answered(endpoint: string, response: Json): string | null {
  if (endpoint === '/v1/responses') return responsesAnswer(response);
  const choice = (Array.isArray(response.choices) ? response.choices[0] : undefined) as Json | undefined;
  const text = endpoint === '/v1/chat/completions' ? (choice?.message as Json | undefined)?.content : choice?.text;
  return typeof text === 'string' ? text : null;
}

/**
 * One line of a dataset (with its newline) from a succeeded result: the request's conversation
 * or prompt, and the reviewer's correction when there is one, else the model's answer.
 * A result that gives no text to train on (a prompt of token ids or of several prompts, an
 * input item no message can show, an answer without text and no correction) is a BAD_REQUEST
 * naming it and what to do.
 */
export function datasetLine(format: DatasetFormat, source: RowSource, row: DatasetRow): string {
  const request = asked(source.endpoint, parse(row.body));
  if (typeof request === 'string') throw unusable(source, row, request);
  const answer = row.correction ?? answered(source.endpoint, parse(row.response));
  if (answer === null) throw unusable(source, row, 'the answer has no text and there is no correction');
  if (format === 'OPENAI_CHAT') {
    const messages = 'messages' in request ? request.messages : [{ role: 'user', content: request.prompt }];
    return `${JSON.stringify({ messages: [...messages, { role: 'assistant', content: answer }] })}\n`;
  }
  const prompt = 'prompt' in request ? request.prompt : renderMessages(request.messages as Json[]);
  return `${JSON.stringify({ prompt, completion: answer })}\n`;
}
