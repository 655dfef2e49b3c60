import { AppError } from '../../core/errors.ts';
import type { DatasetRow } from '../../schema/index.ts';
import { renderMessages } from './render-messages.ts';

/** The formats of a dataset: OpenAI's chat fine-tuning lines, or prompt/completion pairs. */
export const DATASET_FORMATS = ['OPENAI_CHAT', 'PROMPT_COMPLETION'] as const;

/** One of {@link DATASET_FORMATS}. */
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** The endpoints whose results make dataset lines: a conversation or a prompt, and a text answer. */
export const DATASET_ENDPOINTS = ['/v1/chat/completions', '/v1/completions'] as const;

/** Where a row comes from, for the errors that name it. */
interface RowSource {
  batchId: string;
  endpoint: string;
}

const unusable = (source: RowSource, row: DatasetRow, what: string) =>
  new AppError(
    'BAD_REQUEST',
    `Batch ${source.batchId}, custom_id ${row.customId} (line ${row.line}): ${what}. Give it a correction (annotateResult), or leave it out of the export (take away its gold star, or filter by labels).`,
    { param: 'batchIds' },
  );

type Json = Record<string, unknown>;

function parse(text: string): Json {
  const value = JSON.parse(text) as unknown;
  return typeof value === 'object' && value !== null ? (value as Json) : {};
}

/** The first choice of a response: its message's content (chat) or its text (completions); null when it has no text. */
function answerText(response: Json, endpoint: string): string | null {
  const choice = (Array.isArray(response.choices) ? response.choices[0] : undefined) as Json | undefined;
  const text = endpoint === '/v1/chat/completions' ? (choice?.message as Json | undefined)?.content : choice?.text;
  return typeof text === 'string' ? text : null;
}

/** A completions request's prompt as text: a string, or a list holding one string. */
function promptText(body: Json): string | null {
  const { prompt } = body;
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') return prompt[0];
  return null;
}

/**
 * One line of a dataset (with its newline) from a succeeded result: the request's conversation
 * or prompt, and the reviewer's correction when there is one, else the model's answer.
 * A result that gives no text to train on (a prompt of token ids or of several prompts, an
 * answer without text and no correction) is a BAD_REQUEST naming it and what to do.
 */
export function datasetLine(format: DatasetFormat, source: RowSource, row: DatasetRow): string {
  const body = parse(row.body);
  const answer = row.correction ?? answerText(parse(row.response), source.endpoint);
  if (answer === null) throw unusable(source, row, 'the answer has no text (choices[0] holds none) and there is no correction');
  if (source.endpoint === '/v1/chat/completions') {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    if (format === 'OPENAI_CHAT') return `${JSON.stringify({ messages: [...messages, { role: 'assistant', content: answer }] })}\n`;
    return `${JSON.stringify({ prompt: renderMessages(messages), completion: answer })}\n`;
  }
  const prompt = promptText(body);
  if (prompt === null) throw unusable(source, row, 'body.prompt is not one text prompt (token ids, or several prompts)');
  if (format === 'OPENAI_CHAT') {
    return `${JSON.stringify({
      messages: [
        { role: 'user', content: prompt },
        { role: 'assistant', content: answer },
      ],
    })}\n`;
  }
  return `${JSON.stringify({ prompt, completion: answer })}\n`;
}
