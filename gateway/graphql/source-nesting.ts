/**
 * How deep the brackets of a GraphQL source nest (`{`, `[` and `(`, outside strings and
 * comments), counting no further than `stopAt`. graphql-js parses recursively: a document
 * nested a hundred thousand deep overflows the stack before any validation rule sees it,
 * so the gateway measures the text first.
 */
export function sourceNesting(text: string, stopAt: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '#') {
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
    } else if (c === '"') {
      if (text.startsWith('"""', i)) {
        // A block string ends at the first triple quote not escaped as \""" (its only escape).
        let end = text.indexOf('"""', i + 3);
        while (end > 0 && text[end - 1] === '\\') end = text.indexOf('"""', end + 3);
        i = end < 0 ? text.length : end + 2;
      } else {
        for (i++; i < text.length && text[i] !== '"' && text[i] !== '\n'; i++) if (text[i] === '\\') i++;
      }
    } else if (c === '{' || c === '[' || c === '(') {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > stopAt) return deepest;
    } else if (c === '}' || c === ']' || c === ')') {
      depth--;
    }
  }
  return deepest;
}
