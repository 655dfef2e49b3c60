import { z } from 'zod';

/** Raised when the environment does not validate; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; expected: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.expected}`).join('\n')}\n` +
        'Fix these environment variables and start again.',
    );
    this.name = 'ConfigError';
  }
}

/** Parses environment variables with a zod object schema, collecting every problem into one error. */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  // Empty strings mean "unset", as shells and .env files commonly leave them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    variable: String(issue.path[0] ?? '(environment)'),
    expected: issue.message,
  }));
  throw new ConfigError(problems);
}

/** A TCP port number given as a string. */
export const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number (1-65535, or 0 for any free port)' })
    .int({ error: 'expected a port number (1-65535, or 0 for any free port)' })
    .min(0, { error: 'expected a port number (1-65535, or 0 for any free port)' })
    .max(65535, { error: 'expected a port number (1-65535, or 0 for any free port)' })
    .default(fallback);

/** A URL with one of the given protocols. */
export const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { error: `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}` },
  );

/** A positive integer given as a string. */
export const positiveInt = (fallback: number) =>
  z.coerce.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' }).default(fallback);

/** A comma-separated list of non-empty strings. */
export const csv = () =>
  z.string().transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** The log level. */
export const logLevel = () => z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info');
