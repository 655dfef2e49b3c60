/**
 * A chat message's content as text, for handlers and exports that show a prompt: a string as
 * it is; a list of OpenAI content parts as their text, one part per line, a part without text
 * (an image, audio) as `[its type]`; undefined for anything else, which each caller shows in
 * its own way.
 */
export function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  return content
    .map((part: { type?: unknown; text?: unknown }) =>
      typeof part?.text === 'string' ? part.text : `[${typeof part?.type === 'string' ? part.type : 'part'}]`,
    )
    .join('\n');
}
