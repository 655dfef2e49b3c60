/** The outcome of expanding environment references. */
export type Expanded = { ok: true; value: unknown } | { ok: false; problem: string };

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a JSON value with values
 * from `env`, so that secrets stay out of manifest files. An unset name without a default
 * is a problem naming the option and the variable.
 */
export function expandEnv(value: unknown, env: Record<string, string | undefined>, path: string): Expanded {
  if (typeof value === 'string') {
    let missing: string | undefined;
    const out = value.replace(REFERENCE, (_m, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      missing ??= name;
      return '';
    });
    if (missing)
      return { ok: false, problem: `${path}: \${${missing}} is not set in the environment (set it, or write \${${missing}:-default})` };
    return { ok: true, value: out };
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const [i, item] of value.entries()) {
      const r = expandEnv(item, env, `${path}[${i}]`);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return { ok: true, value: out };
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const r = expandEnv(item, env, `${path}.${key}`);
      if (!r.ok) return r;
      // An option that expands to the empty string is treated as not given.
      if (r.value !== '') out[key] = r.value;
    }
    return { ok: true, value: out };
  }
  return { ok: true, value };
}
