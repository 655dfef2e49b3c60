import { contentText } from '../../handlers/sdk/index.ts';

/** A chat message as a request gives it: only what a text rendering reads of it. */
interface ChatMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
}

function toolCallsText(calls: unknown): string[] {
  if (!Array.isArray(calls)) return [];
  return calls.map((call: { function?: { name?: unknown; arguments?: unknown } }) => {
    const name = typeof call?.function?.name === 'string' ? call.function.name : 'tool';
    const args = typeof call?.function?.arguments === 'string' ? call.function.arguments : '';
    return `[tool call] ${name}(${args})`;
  });
}

/**
 * A chat conversation as one prompt text: each message as `role: content`, separated by a
 * blank line, and `assistant: ` after the last, so that prompt + completion reads as the
 * conversation with its answer. Content given as parts keeps its text parts (one per line) and
 * shows others as `[image_url]` and the like; an assistant's tool calls read `[tool call] name(arguments)`.
 */
export function renderMessages(messages: readonly ChatMessage[]): string {
  const blocks = messages.map((message) => {
    const role = typeof message.role === 'string' ? message.role : 'user';
    const text = [contentText(message.content) ?? '', ...toolCallsText(message.tool_calls)].filter(Boolean).join('\n');
    return `${role}: ${text}`;
  });
  return `${[...blocks, 'assistant: '].join('\n\n')}`;
}
