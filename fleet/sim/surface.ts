import { streamErrorEvent } from './errors.ts';
import { createLlamaChunkFormatter, llamaError, llamaNotFound, llamaReplyBody, llamaStreamError } from './llamacpp.ts';
import type { SimProfile, SimOptions } from './options.ts';
import { createChunkFormatter, replyBody, type ChoiceEnd, type ReplyFrame } from './replies.ts';
import { createSglangChunkFormatter, sglangError, sglangReplyBody, sglangStreamError } from './sglang.ts';

/** How one engine writes its replies: the stream's events, the whole body, errors after the 200. */
export interface ReplySurface {
  chunks(frame: ReplyFrame): ReturnType<typeof createChunkFormatter>;
  body(frame: ReplyFrame, ends: ChoiceEnd[]): Record<string, unknown>;
  /** An error event inside a stream, and whether `[DONE]` follows it. */
  streamError(status: number, message: string, param: string | null): { event: string; done: boolean };
}

/**
 * The reply surface of a profile. `bare` is a proxy in front of vLLM: vLLM's bodies; it only
 * lacks /metrics (and every non-OpenAI route).
 */
export function replySurface(options: SimOptions): ReplySurface {
  if (options.profile === 'llamacpp') {
    return {
      chunks: (frame) => createLlamaChunkFormatter(frame, options),
      body: (frame, ends) => llamaReplyBody(frame, ends, options),
      streamError: (status, message) => ({ event: llamaStreamError(status, message), done: false }),
    };
  }
  if (options.profile === 'sglang') {
    return {
      chunks: createSglangChunkFormatter,
      body: sglangReplyBody,
      streamError: (status, message) => ({ event: sglangStreamError(status, message), done: true }),
    };
  }
  return {
    chunks: createChunkFormatter,
    body: replyBody,
    streamError: (status, message, param) => ({ event: streamErrorEvent(status, message, param), done: true }),
  };
}

/**
 * Rewrites an error the simulator wrote in vLLM's shape (`{"error":{message,type,param,code}}`,
 * FastAPI's `{"detail": ...}`) into the profile's engine's shape, keeping status and message.
 * The messages stay vLLM's except where the profile writes its own (llama-server's context error).
 */
export async function inProfileShape(profile: SimProfile, response: Response): Promise<Response> {
  if ((profile !== 'llamacpp' && profile !== 'sglang') || response.status < 400) return response;
  if (!(response.headers.get('content-type') ?? '').startsWith('application/json')) return response;
  const text = await response.text();
  let parsed: { error?: unknown; detail?: unknown; object?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return new Response(text, { status: response.status, headers: response.headers });
  }
  const already =
    profile === 'llamacpp'
      ? typeof (parsed.error as { type?: unknown } | undefined)?.type === 'string' &&
        'code' in (parsed.error as object) &&
        !('param' in (parsed.error as object))
      : parsed.object === 'error';
  if (already) return new Response(text, { status: response.status, headers: response.headers });
  const error = parsed.error as { message?: unknown; param?: unknown } | string | undefined;
  const message = typeof error === 'string' ? error : typeof error?.message === 'string' ? error.message : String(parsed.detail ?? text);
  const param = typeof error === 'object' && typeof error?.param === 'string' ? error.param : null;
  if (profile === 'llamacpp')
    return response.status === 404 && parsed.detail !== undefined ? llamaNotFound() : llamaError(response.status, message);
  return sglangError(response.status, message, param);
}
