import type { z } from 'zod';
import type { CheckIssue } from './define-handler.ts';
import type { OptionIssue } from './errors.ts';

/** The outcome of validating one option set. */
export type Validated<T> = { ok: true; value: T } | { ok: false; issues: OptionIssue[] };

/** Validates a value with a zod schema; issue paths are prefixed (`handlers.webhook`). */
export function validate<T>(schema: z.ZodType<T>, value: unknown, prefix: string): Validated<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.flatMap((issue): OptionIssue[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: joinPath(prefix, [...issue.path, key]), message: 'unknown option' }))
      : [{ path: joinPath(prefix, issue.path), message: plain(issue, valueAt(value, issue.path)) }],
  );
  return { ok: false, issues };
}

/** Turns the issues of a handler's `check` into option issues under the prefix. */
export function checkIssues(issues: CheckIssue[] | void, prefix: string): OptionIssue[] {
  return (issues ?? []).map((issue) => ({ path: joinPath(prefix, issue.path ?? []), message: issue.message }));
}

/** `handlers.webhook` + `['headers', 0]` → `handlers.webhook.headers[0]`. */
export function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

/**
 * GraphQL sends `null` for an optional field the caller set to null; zod's `.optional()`
 * means absent. Dropping nulls lets both mean "not given".
 */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, dropNulls(v)]),
    );
  }
  return value;
}

// zod's defaults say "Invalid input: expected string, received undefined"; say what is expected instead.
function plain(issue: z.core.$ZodIssue, given: unknown): string {
  const message = issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '');
  return issue.code === 'invalid_type' && given === undefined ? `required (${message})` : message;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) current = current && typeof current === 'object' ? (current as Record<PropertyKey, unknown>)[key] : undefined;
  return current;
}
