import type { HandlerResult } from '../../../handlers/sdk/index.ts';

/**
 * The answer's text: a chat completion's first message (its text parts joined, when the
 * content is a list of parts) or a completion's first text; null for a failed request or a
 * body without one (an embedding).
 */
export function answerText(result: HandlerResult): string | null {
  if (result.error || !result.response || result.response.status_code >= 400) return null;
  const choice = (result.response.body as { choices?: { message?: { content?: unknown }; text?: unknown }[] } | null)?.choices?.[0];
  const content = choice?.message?.content ?? choice?.text;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const parts = content.map((part: { type?: string; text?: unknown }) =>
      part?.type === 'text' && typeof part.text === 'string' ? part.text : '',
    );
    return parts.join('');
  }
  return null;
}

/** The prompt as the request sent it: a chat request's `messages`, a completion request's `prompt`, else null. */
export function promptOf(request: unknown): unknown {
  const body = request as { messages?: unknown; prompt?: unknown } | null;
  return body?.messages ?? body?.prompt ?? null;
}
