import { z } from 'zod';
import { createSecretBox, decodeSecretsKey, MAKE_SECRETS_KEY, type SecretBox } from './secret-box.ts';

const key = () =>
  z.string().transform((text, ctx) => {
    const bytes = decodeSecretsKey(text);
    if (!bytes) ctx.addIssue({ code: 'custom', message: `expected 32 random bytes in base64 (44 characters); ${MAKE_SECRETS_KEY}` });
    return bytes ?? new Uint8Array();
  });

/**
 * SECRETS_KEY and SECRETS_KEY_PREVIOUS, read by the gateway (which seals the secret options of a
 * new batch) and by the fleet (which opens them to run the handler): the same values everywhere.
 */
export const secretsVariables = {
  /** The key that seals secret handler options (AES-256-GCM): 32 bytes in base64. */
  SECRETS_KEY: key().optional(),
  /** A rotated-out key, still accepted for opening values sealed with it. */
  SECRETS_KEY_PREVIOUS: key().optional(),
};

/** The secret box of those variables. */
export function secretBoxOf(env: { SECRETS_KEY?: Uint8Array | undefined; SECRETS_KEY_PREVIOUS?: Uint8Array | undefined }): SecretBox {
  return createSecretBox({ current: env.SECRETS_KEY, previous: env.SECRETS_KEY_PREVIOUS });
}

/**
 * The problem with starting a gateway: one that has API keys (so other people's batches)
 * but no SECRETS_KEY while an installed handler has secret options would store them in plain
 * text. Keyless local mode (no API keys: one user on their own machine, whose database sits
 * on their own disk) may run without one. `secretOptions` are the options as `handler.option`.
 */
export function secretsKeyProblem({
  apiKeys,
  box,
  secretOptions,
}: {
  apiKeys: readonly string[];
  box: SecretBox;
  secretOptions: readonly string[];
}) {
  if (!apiKeys.length || box.canSeal || !secretOptions.length) return null;
  return {
    variable: 'SECRETS_KEY',
    expected:
      `required with API_KEYS, because installed handlers have secret options (${secretOptions.join(', ')}) that batches store encrypted with it; ` +
      `${MAKE_SECRETS_KEY}, and give the same value to every gateway and fleet process`,
  };
}
