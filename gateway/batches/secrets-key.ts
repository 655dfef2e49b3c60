import { ConfigError } from '../../core/env.ts';
import { secretsKeyProblem } from '../../core/secrets/index.ts';
import type { HandlerRegistry } from '../../handlers/sdk/index.ts';
import type { GatewayConfig } from '../config.ts';

/**
 * Stops a gateway with API keys, no SECRETS_KEY and handlers with secret options: it would
 * store every batch's webhook secret, token or database URL in plain text. A ConfigError
 * naming SECRETS_KEY and how to make one. Returns what to log when keyless local mode stores
 * them in plain text, or null.
 */
export function requireSecretsKey(config: Pick<GatewayConfig, 'apiKeys' | 'secrets'>, registry: HandlerRegistry): string | null {
  const secretOptions = registry.handlers.flatMap((h) => h.secretOptions.map((option) => `${h.name}.${option}`));
  const problem = secretsKeyProblem({ apiKeys: config.apiKeys, box: config.secrets, secretOptions });
  if (problem) throw new ConfigError([problem]);
  if (config.secrets.canSeal || !secretOptions.length) return null;
  return 'SECRETS_KEY is not set: secret handler options of new batches are stored as given (fine for one user on this machine; set SECRETS_KEY to encrypt them)';
}
