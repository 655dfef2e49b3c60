const PY = Symbol('python');

/** A Python tuple, for {@link pyRepr}. */
export const pyTuple = (items: unknown[]) => ({ [PY]: 'tuple' as const, items });
/** A Python object's repr such as `VLLMValidationError('...')`, for {@link pyRepr}. */
export const pyCall = (name: string, arg: string) => ({ [PY]: 'call' as const, name, arg });

/** Python's repr of a str: single quotes unless the text has one and no double quote. */
function strRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/**
 * Python's repr of a JSON-like value (what FastAPI's error messages print): dicts with
 * `'key': value`, True/False/None, tuples and object reprs made with {@link pyTuple}/{@link pyCall}.
 */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? 'inf' : '-inf';
  if (typeof value === 'string') return strRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  const tagged = value as { [PY]?: 'tuple' | 'call'; items?: unknown[]; name?: string; arg?: string };
  if (tagged[PY] === 'tuple') {
    const items = (tagged.items ?? []).map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  if (tagged[PY] === 'call') return `${tagged.name}(${strRepr(tagged.arg ?? '')})`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${strRepr(k)}: ${pyRepr(v)}`)
    .join(', ')}}`;
}
