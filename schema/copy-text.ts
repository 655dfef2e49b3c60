const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * A text value as a field of `COPY ... FROM STDIN` in text format: backslash, tab, newline
 * and carriage return escaped, everything else as it is (the stream is UTF-8, like the
 * connection). The value must not hold NUL, which no Postgres text can.
 */
export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c]!) : value;
}
