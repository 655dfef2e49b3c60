import { contentText } from '../../handlers/sdk/index.ts';

type Json = Record<string, unknown>;

/**
 * A /v1/responses request as chat messages: `instructions` as the system message, then
 * `input` (a string is one user message; a list holds messages, `{role, content}` with
 * content as text or `input_text` parts). Returns what stops it otherwise: an input item that
 * is no message (a function call or its output, a reasoning item, an item reference).
 */
export function responsesMessages(body: Json): { role: string; content: string }[] | string {
  const messages: { role: string; content: string }[] = [];
  if (typeof body.instructions === 'string' && body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') return [...messages, { role: 'user', content: body.input }];
  if (!Array.isArray(body.input)) return 'body.input is neither text nor a list of messages';
  for (const item of body.input as Json[]) {
    const type = item?.type ?? 'message';
    if (type !== 'message' || typeof item.role !== 'string')
      return `body.input holds a ${String(type)} item, which no chat message can show`;
    messages.push({ role: item.role, content: contentText(item.content) ?? '' });
  }
  return messages;
}

/** The text of a response's `output_text` parts of its message items, joined; null when it has none. */
export function responsesAnswer(response: Json): string | null {
  if (!Array.isArray(response.output)) return null;
  const texts = (response.output as Json[])
    .filter((item) => item?.type === 'message' && Array.isArray(item.content))
    .flatMap((item) => item.content as Json[])
    .filter((part) => part?.type === 'output_text' && typeof part.text === 'string')
    .map((part) => part.text as string);
  return texts.length ? texts.join('') : null;
}
