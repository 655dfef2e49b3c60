import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers a signed webhook request carries (Standard Webhooks, https://www.standardwebhooks.com). */
export const WEBHOOK_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;

/** What is signed and how: `v1,` + base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`. */
export interface SignWebhookOptions {
  /** The shared secret: `whsec_<base64>` (decoded) or any other string (its UTF-8 bytes). */
  secret: string;
  /** The message id, the same on every retry of one delivery, so receivers can drop duplicates. */
  id: string;
  /** Seconds since the epoch when the request is sent. */
  timestamp: number;
  /** The exact bytes of the request body. */
  body: string | Uint8Array;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * What is wrong with a signing secret, if anything: an empty one, or `whsec_` not followed by
 * base64 (Node would decode what it can and sign with what is left, possibly an empty key
 * that anyone can sign with).
 */
export function webhookSecretProblem(secret: string): string | undefined {
  if (!secret) return 'the webhook secret is empty';
  if (secret.startsWith('whsec_') && !BASE64.test(secret.slice('whsec_'.length)))
    return 'a whsec_ secret must be followed by base64 (or use a plain secret without the prefix)';
  return undefined;
}

function key(secret: string): Buffer {
  const problem = webhookSecretProblem(secret);
  if (problem) throw new TypeError(`Cannot sign or verify a webhook: ${problem}.`);
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** The `webhook-signature` value for a body: `v1,<base64>`. */
export function signWebhook({ secret, id, timestamp, body }: SignWebhookOptions): string {
  const hmac = createHmac('sha256', key(secret));
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** The three headers of a signed request. */
export function webhookHeaders(options: SignWebhookOptions): Record<string, string> {
  return {
    [WEBHOOK_HEADERS.id]: options.id,
    [WEBHOOK_HEADERS.timestamp]: String(options.timestamp),
    [WEBHOOK_HEADERS.signature]: signWebhook(options),
  };
}

/** Raised by {@link verifyWebhook} when a request is not authentic; `reason` says why. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: 'missing_headers' | 'bad_timestamp' | 'too_old' | 'too_new' | 'bad_signature',
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  secret: string;
  /** The request's headers: a `Headers` object or a plain object (Node's `req.headers`). */
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The raw request body, exactly as received (not re-serialised JSON). */
  body: string | Uint8Array;
  /** How far the timestamp may be from now, in seconds (replay protection). Default 300. */
  toleranceSeconds?: number;
  /** Now, in seconds since the epoch (for tests). */
  now?: number;
}

/**
 * For receivers: checks a webhook's signature and timestamp and returns its parsed JSON
 * body; throws a {@link WebhookVerificationError} when the body was changed, the secret
 * differs, or the request is older (or newer) than the tolerance.
 */
export function verifyWebhook<T = unknown>({
  secret,
  headers,
  body,
  toleranceSeconds = 300,
  now = Date.now() / 1000,
}: VerifyWebhookOptions): T {
  const get = (name: string) => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = get(WEBHOOK_HEADERS.id);
  const stamp = get(WEBHOOK_HEADERS.timestamp);
  const signatures = get(WEBHOOK_HEADERS.signature);
  if (!id || !stamp || !signatures)
    throw new WebhookVerificationError('missing_headers', 'missing webhook-id, webhook-timestamp or webhook-signature header');
  const timestamp = Number(stamp);
  if (!Number.isInteger(timestamp)) throw new WebhookVerificationError('bad_timestamp', `webhook-timestamp is not an integer: ${stamp}`);
  if (timestamp < now - toleranceSeconds)
    throw new WebhookVerificationError('too_old', 'the webhook timestamp is too old; refusing a possible replay');
  if (timestamp > now + toleranceSeconds) throw new WebhookVerificationError('too_new', 'the webhook timestamp is in the future');

  const expected = Buffer.from(signWebhook({ secret, id, timestamp, body }).slice(3), 'base64');
  // Several signatures, space-separated, let a sender rotate secrets.
  const match = signatures.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!match) throw new WebhookVerificationError('bad_signature', 'the webhook signature does not match the body');
  return JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)) as T;
}
