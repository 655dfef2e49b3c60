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
  z.coerce
    .number({ error: 'expected a positive integer' })
    .int({ error: 'expected a positive integer' })
    .positive({ error: 'expected a positive integer' })
    .default(fallback);

/** A comma-separated list of non-empty strings. */
export const csv = () =>
  z.string().transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/**
 * HANDLER_PRIVATE_NETWORKS and HANDLER_ALLOWED_HOSTS, read by the gateway (which refuses an
 * obviously private destination when a batch is created) and by the fleet (which checks
 * every connection a handler makes for a batch): whether a batch's handler options may name
 * loopback, private and link-local hosts, and which hosts they may name whatever they resolve to.
 */
export const destinationVariables = {
  HANDLER_PRIVATE_NETWORKS: z.enum(['allow', 'deny'], { error: 'expected allow or deny' }).default('deny'),
  HANDLER_ALLOWED_HOSTS: csv().optional(),
};

/**
 * `env` with the destination default of `npm start`: without API keys the one process
 * serves only its own machine's user, who is the operator, so a batch may send to localhost
 * (a webhook receiver being tried out) unless HANDLER_PRIVATE_NETWORKS says otherwise.
 */
export function withEmbeddedDestinations(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const keyless = !env.API_KEYS && !env.ADMIN_API_KEYS;
  return keyless ? { HANDLER_PRIVATE_NETWORKS: 'allow', ...env } : env;
}

/** The destination policy of those variables (the handler SDK's DestinationPolicy). */
export function destinationPolicy(env: { HANDLER_PRIVATE_NETWORKS: 'allow' | 'deny'; HANDLER_ALLOWED_HOSTS?: string[] | undefined }) {
  return {
    allowPrivate: env.HANDLER_PRIVATE_NETWORKS === 'allow',
    allowedHosts: (env.HANDLER_ALLOWED_HOSTS ?? []).map((h) => h.toLowerCase()),
  };
}

/** The log level. */
export const logLevel = () => z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info');
