import { AppError } from '../core/errors.ts';

/** The owner of every file and batch when the gateway runs without API keys. */
export const LOCAL_OWNER = 'local';

/** Options for {@link createAuthenticator}. */
export interface AuthOptions {
  /** The accepted bearer keys, administrators' included (the gateway config's `apiKeys`); none means no authentication. */
  apiKeys?: readonly string[] | undefined;
  /** Those of `apiKeys` whose owners are administrators: they may change the model registry. */
  adminKeys?: readonly string[] | undefined;
}

/** Resolves an `Authorization` header value to its owner, or throws UNAUTHENTICATED. */
export interface Authenticator {
  (authorization: string | null): Promise<string>;
  /** Whether an owner this authenticator gave is an administrator (the local owner is, without keys). */
  isAdmin(owner: string): Promise<boolean>;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The owner name of an API key: a short SHA-256 of it, so keys are never stored and the
 * same key always owns the same files and batches, on every replica and across restarts.
 */
export async function ownerOfKey(key: string): Promise<string> {
  return `key_${(await sha256Hex(key)).slice(0, 16)}`;
}

/**
 * Creates the one check shared by HTTP and WebSocket: `Bearer <key>` with one of the keys
 * gives the key's owner; without keys everybody is {@link LOCAL_OWNER}. Keys are compared
 * by their digest (a map lookup), never character by character.
 */
export function createAuthenticator({ apiKeys = [], adminKeys = [] }: AuthOptions = {}): Authenticator {
  const owners = (async () => {
    const byDigest = new Map<string, string>();
    for (const key of apiKeys) byDigest.set(await sha256Hex(key), await ownerOfKey(key));
    return byDigest;
  })();
  const admins = Promise.all(adminKeys.map(ownerOfKey)).then((list) => new Set(list));
  const authenticate = async (authorization: string | null) => {
    if (apiKeys.length === 0) return LOCAL_OWNER;
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    if (!match) {
      throw new AppError('UNAUTHENTICATED', 'Send your API key as an "Authorization: Bearer <key>" header.', { reason: 'missing_api_key' });
    }
    const owner = (await owners).get(await sha256Hex(match[1]!.trim()));
    if (!owner)
      throw new AppError('UNAUTHENTICATED', 'The API key is not valid; check it against API_KEYS.', { reason: 'invalid_api_key' });
    return owner;
  };
  const isAdmin = async (owner: string) => (apiKeys.length === 0 ? owner === LOCAL_OWNER : (await admins).has(owner));
  return Object.assign(authenticate, { isAdmin });
}
