/** What {@link extractMetadata} reads an answer with. */
export interface ExtractOptions {
  /** Matched against the answer (case-insensitive, `^`/`$` at each line); the first group, or the whole match, is the topic. */
  topicPattern?: RegExp;
  /** The keys of a JSON answer to copy into `fields`; default: every key holding a string, number or boolean. */
  jsonFields?: readonly string[];
}

/** The metadata of one answer. A null value removes the key from what the result had before. */
export interface AnswerMetadata {
  [key: string]: unknown;
  /** `json` when the whole answer (fenced in ``` or not) is one JSON object. */
  format: 'json' | 'text';
  /** Words of the prose: the answer's text, or a JSON answer's string values. */
  words: number;
  /** ISO 639-1 code of the prose's language when a few common words make it clear, else null. */
  language: string | null;
  topic: string | null;
  /** A JSON answer's fields (see {@link ExtractOptions.jsonFields}), else null. */
  fields: Record<string, unknown> | null;
}

// A handful of the most frequent words of each language: enough to tell them apart in a
// paragraph, and no dependency. A real deployment may plug in a proper detector here.
const COMMON_WORDS: Record<string, readonly string[]> = {
  en: ['the', 'and', 'is', 'of', 'to', 'in', 'that', 'it', 'for', 'with', 'you', 'are', 'this', 'be'],
  de: ['der', 'die', 'das', 'und', 'ist', 'nicht', 'ein', 'eine', 'zu', 'mit', 'sie', 'ich', 'auf', 'für'],
  fr: ['le', 'la', 'les', 'et', 'est', 'un', 'une', 'des', 'du', 'que', 'pas', 'pour', 'dans', 'vous'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'un', 'una', 'que', 'de', 'en', 'por', 'para', 'con'],
  it: ['il', 'la', 'e', 'è', 'di', 'che', 'un', 'una', 'per', 'non', 'con', 'sono', 'gli', 'della'],
  nl: ['de', 'het', 'een', 'en', 'is', 'van', 'niet', 'dat', 'op', 'te', 'zijn', 'met', 'voor', 'ik'],
};

/** Reads structured metadata out of one answer's text. */
export function extractMetadata(answer: string, options: ExtractOptions = {}): AnswerMetadata {
  const object = jsonObject(answer);
  const prose = object ? stringValues(object).join(' ') : answer;
  const words = prose.toLowerCase().match(/[\p{L}\p{N}'’-]+/gu) ?? [];
  const match = options.topicPattern?.exec(answer);
  const topic = (match?.[1] ?? match?.[0])?.trim().slice(0, 200) || null;
  return {
    format: object ? 'json' : 'text',
    words: words.length,
    language: detectLanguage(words),
    topic,
    fields: object ? pickFields(object, options.jsonFields) : null,
  };
}

/** The answer as a JSON object, when it is one (models often fence it in ```json). */
function jsonObject(answer: string): Record<string, unknown> | null {
  const text = answer
    .trim()
    .replace(/^```(?:json)?\s*\n([\s\S]*)\n```$/, '$1')
    .trim();
  if (!text.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function stringValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringValues);
  return [];
}

function pickFields(object: Record<string, unknown>, keys: readonly string[] | undefined): Record<string, unknown> {
  if (keys) return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
  return Object.fromEntries(Object.entries(object).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v)));
}

// At least 3 hits, and a third more than the runner-up: a short or mixed answer stays unknown.
function detectLanguage(words: readonly string[]): string | null {
  const scores = Object.entries(COMMON_WORDS)
    .map(([language, common]) => [language, words.filter((word) => common.includes(word)).length] as const)
    .sort((a, b) => b[1] - a[1]);
  const [best, second] = scores;
  if (!best || best[1] < 3 || (second && best[1] < second[1] * 1.34)) return null;
  return best[0];
}
