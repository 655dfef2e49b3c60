import { z } from 'zod';
import { csv, destinationPolicy, destinationVariables, logLevel, parseEnv, port, positiveInt, url } from '../core/env.ts';
import { secretBoxOf, secretsVariables, type SecretBox } from '../core/secrets/index.ts';

/** A per-owner quota: a whole number that fits the `owner_limits` columns (int4). */
const quota = () => {
  const error = 'expected a whole number from 1 to 2147483647 (unset = unlimited)';
  return z.coerce.number({ error }).int({ error }).min(1, { error }).max(2_147_483_647, { error });
};

/** The gateway's environment, validated once at start-up. */
export const gatewayEnv = z.object({
  PORT: port(8080),
  /** Where to bind; defaults to all interfaces with API_KEYS set, loopback only without. */
  HOST: z.string().optional(),
  DATABASE_URL: url(['postgres', 'postgresql']).optional(),
  DATA_DIR: z.string().default('./.data'),
  REDIS_URL: url(['redis', 'rediss']).optional(),
  /** Prefix of the event bus's Redis channels: deployments (and test runs) sharing one Redis each pick their own. */
  REDIS_PREFIX: z.string().default('vbs:'),
  API_KEYS: csv().optional(),
  /**
   * Keys that may also change the model registry (what the GPUs run: sources and `vllm serve`
   * arguments). They are accepted wherever API_KEYS are; without any key the caller is local and may.
   */
  ADMIN_API_KEYS: csv().optional(),
  HANDLER_MANIFESTS: z.string().optional(),
  ...destinationVariables,
  ...secretsVariables,
  LOG_LEVEL: logLevel(),
  /** Requests per batch input file (OpenAI's limit is 50,000). */
  MAX_BATCH_REQUESTS: positiveInt(50_000),
  /** Bytes per uploaded file (OpenAI's limit is 200 MB). */
  MAX_FILE_BYTES: positiveInt(200 * 1024 * 1024),
  /** Bytes of a JSON request body (GraphQL operations, batch creation); file uploads are bounded by MAX_FILE_BYTES instead. */
  MAX_JSON_BODY_BYTES: positiveInt(16 * 1024 * 1024),
  /** The deepest GraphQL selection accepted (graphql-js's introspection query is 15 deep). */
  GRAPHQL_MAX_DEPTH: positiveInt(15),
  /** The most a GraphQL operation may cost: one per field, times the `first` of each page it is inside. */
  GRAPHQL_MAX_COST: positiveInt(10_000),
  /**
   * Days an uploaded file, and a batch's output and error files, live when the caller gives no
   * `expires_after` (`output_expires_after`); unset, they are kept until deleted.
   */
  FILE_RETENTION_DAYS: z.coerce
    .number({ error: 'expected a whole number of days (unset keeps files until they are deleted)' })
    .int({ error: 'expected a whole number of days (unset keeps files until they are deleted)' })
    .positive({ error: 'expected a whole number of days (unset keeps files until they are deleted)' })
    // Stored in seconds in an integer column: 24,855 days (68 years) is the most that fits in 2^31 - 1.
    .max(24_855, { error: 'expected at most 24855 days (68 years; unset keeps files until they are deleted)' })
    .optional(),
  /** Requests an owner may have queued across its batches when an administrator set it no other limit; unset = unlimited. */
  MAX_QUEUED_REQUESTS_PER_OWNER: quota().optional(),
  /** API requests per minute per owner when an administrator set it no other limit (a token bucket shared by the replicas); unset = unlimited. */
  API_REQUESTS_PER_MINUTE: quota().optional(),
  /** Enables POST /v1/integrations/label-studio/webhook: Label Studio sends it as `Authorization: Bearer <secret>` (docs/handlers.md). */
  LABEL_STUDIO_WEBHOOK_SECRET: z.string().min(16, { error: 'expected at least 16 characters (e.g. openssl rand -hex 32)' }).optional(),
  /** Public base URL of the gateway, used in links handed to handlers (file downloads). */
  PUBLIC_URL: url(['http', 'https']).optional(),
});

/** The gateway's configuration. */
export type GatewayConfig = z.infer<typeof gatewayEnv> & {
  host: string;
  /** Every accepted key: API_KEYS and ADMIN_API_KEYS; empty means no authentication. */
  apiKeys: string[];
  /** Which destinations a batch's handler options may name (HANDLER_PRIVATE_NETWORKS, HANDLER_ALLOWED_HOSTS). */
  destinations: ReturnType<typeof destinationPolicy>;
  /** Seals the secret options of new batches (SECRETS_KEY; SECRETS_KEY_PREVIOUS also opens). */
  secrets: SecretBox;
  /** The environment `${NAME}` references in handler manifests are read from. */
  manifestEnv?: Record<string, string | undefined>;
};

/** Reads and validates the gateway's configuration from the environment. */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const parsed = parseEnv(gatewayEnv, env);
  const apiKeys = [...new Set([...(parsed.API_KEYS ?? []), ...(parsed.ADMIN_API_KEYS ?? [])])];
  // Without keys anybody who can reach the port owns every batch, so stay on loopback.
  const host = parsed.HOST ?? (apiKeys.length ? '0.0.0.0' : '127.0.0.1');
  return { ...parsed, host, apiKeys, destinations: destinationPolicy(parsed), secrets: secretBoxOf(parsed), manifestEnv: env };
}
