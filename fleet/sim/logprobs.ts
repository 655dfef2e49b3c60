import { tokenId, type ChoicePlan } from './content.ts';

const ALTERNATIVES = [' a', ' the', ' and', ' of', ' to', ' in', ' for', ' with', ' on', ' as'];
const bytes = (token: string) => Array.from(new TextEncoder().encode(token));
/** The i-th alternative to a sampled token, less likely than it. */
const alternative = (i: number, logprob: number) => ({
  token: ALTERNATIVES[i % ALTERNATIVES.length] as string,
  logprob: Math.round((logprob - 0.5 - i) * 1e6) / 1e6,
});

/**
 * Chat logprobs of tokens [from, to): ChatCompletionLogProbsContent entries (token, logprob,
 * bytes, top_logprobs), the sampled token first among its `top` alternatives (chat_completion/serving.py).
 */
export function chatLogprobs(choice: ChoicePlan, from: number, to: number, top: number) {
  const out = [];
  for (let k = from; k < to; k++) {
    const token = choice.pieces[k] as string;
    const logprob = choice.logprobs[k] as number;
    const alternatives = Array.from({ length: Math.max(0, top - 1) }, (_, i) => alternative(i, logprob));
    out.push({
      token,
      logprob,
      bytes: bytes(token),
      top_logprobs: top > 0 ? [{ token, logprob, bytes: bytes(token) }, ...alternatives.map((a) => ({ ...a, bytes: bytes(a.token) }))] : [],
    });
  }
  return out;
}

/** Completions logprobs of tokens [from, to): CompletionLogProbs with `top` + 1 alternatives a token (completion/serving.py). */
export function completionLogprobs(choice: ChoicePlan, from: number, to: number, top: number, initialOffset: number) {
  const result = {
    text_offset: [] as number[],
    token_logprobs: [] as number[],
    tokens: [] as string[],
    top_logprobs: [] as Record<string, number>[],
  };
  let offset = initialOffset;
  for (let k = from; k < to; k++) {
    const token = choice.pieces[k] as string;
    const logprob = choice.logprobs[k] as number;
    result.text_offset.push(offset);
    offset += token.length;
    result.token_logprobs.push(logprob);
    result.tokens.push(token);
    const top_ = { [token]: logprob } as Record<string, number>;
    for (let i = 0; i < top; i++) {
      const a = alternative(i, logprob);
      if (!(a.token in top_)) top_[a.token] = a.logprob;
    }
    result.top_logprobs.push(top_);
  }
  return result;
}

/**
 * prompt_logprobs as vLLM returns them: null for the first prompt token, then per token a map
 * from token id to Logprob (logprob, rank, decoded_token), the prompt's own token first.
 */
export function promptLogprobs(
  text: string,
  top: number,
): (Record<string, { logprob: number; rank: number; decoded_token: string }> | null)[] {
  const tokens = text.length ? (text.match(/[\s\S]{1,4}/g) as string[]) : [''];
  return tokens.map((token, position) => {
    if (position === 0) return null;
    const logprob = -Math.round((((position * 7919) % 1000) / 100) * 1e6) / 1e6;
    const entry: Record<string, { logprob: number; rank: number; decoded_token: string }> = {
      [String(tokenId(token))]: { logprob, rank: 1 + (position % 3), decoded_token: token },
    };
    for (let i = 0; i < top; i++) {
      const a = alternative(i, logprob);
      const id = String(tokenId(a.token));
      if (!(id in entry)) entry[id] = { logprob: a.logprob, rank: i + 1, decoded_token: a.token };
    }
    return entry;
  });
}
