import { contentText } from '../sdk/index.ts';

/** One turn of the prompt as the Paragraphs tag shows it (`nameKey="role" textKey="content"`). */
export interface PromptTurn {
  role: string;
  content: string;
}

/** A message's content as text (an image or audio part as `[image_url]`); other content as JSON. */
const turnText = (content: unknown) => contentText(content) ?? (content == null ? '' : JSON.stringify(content));

/**
 * The prompt of a request body as turns: a chat request's messages (tool calls as JSON),
 * a completion's `prompt` as one `prompt` turn, anything else (embeddings' `input`) as one
 * `request` turn of JSON; none when the request is gone (the batch's data was purged).
 */
export function promptTurns(request: unknown): PromptTurn[] {
  if (request == null || typeof request !== 'object') return [];
  const { messages, prompt } = request as { messages?: unknown; prompt?: unknown };
  if (Array.isArray(messages))
    return messages.map((m: { role?: unknown; content?: unknown; tool_calls?: unknown }) => ({
      role: typeof m?.role === 'string' ? m.role : 'unknown',
      content: [turnText(m?.content), m?.tool_calls ? JSON.stringify(m.tool_calls) : ''].filter(Boolean).join('\n'),
    }));
  if (prompt !== undefined)
    return [{ role: 'prompt', content: Array.isArray(prompt) ? prompt.map(turnText).join('\n') : turnText(prompt) }];
  return [{ role: 'request', content: JSON.stringify(request) }];
}

/** The turns as one readable text (`role: content`, a blank line between turns), for the Data Manager's columns and search. */
export function promptText(turns: readonly PromptTurn[]): string {
  return turns.map((t) => `${t.role}: ${t.content}`).join('\n\n');
}
