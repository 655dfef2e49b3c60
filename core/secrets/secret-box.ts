/** The keys a process holds: `current` seals and opens, `previous` (a rotated-out key) only opens. */
export interface SecretKeys {
  current?: Uint8Array | undefined;
  previous?: Uint8Array | undefined;
}

/** A value sealed with AES-256-GCM, as stored in place of the plain value: `{ "$sealed": "v1.<key id>.<iv>.<ciphertext>" }`. */
export interface SealedValue {
  $sealed: string;
}

/** Encrypts and decrypts secrets with SECRETS_KEY (and reads with SECRETS_KEY_PREVIOUS); WebCrypto only, so every runtime has it. */
export interface SecretBox {
  /** Whether a current key is set: without one, nothing is sealed. */
  readonly canSeal: boolean;
  /** Seals `plaintext`, bound to `label` (the option it belongs to): opened under another label, it does not decrypt. */
  seal(plaintext: string, label: string): Promise<SealedValue>;
  /** Opens a sealed value; throws a {@link SecretsKeyError} naming the key it needs when this process does not hold it. */
  open(sealed: SealedValue, label: string): Promise<string>;
  /** Whether a sealed value was sealed with the current key (otherwise re-sealing it lets the previous key be dropped). */
  isCurrent(sealed: SealedValue): Promise<boolean>;
}

/** A sealed value that this process cannot open: no key, the wrong key, or a damaged value. */
export class SecretsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsKeyError';
  }
}

/** How to make a key, for messages that ask for one. */
export const MAKE_SECRETS_KEY =
  'make one with `openssl rand -base64 32` (or `node -e "console.log(crypto.randomBytes(32).toString(\'base64\'))"`)';

const VERSION = 'v1';
const IV_BYTES = 12;

/** Whether a stored value is a sealed one. */
export function isSealed(value: unknown): value is SealedValue {
  return (
    !!value &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as SealedValue).$sealed === 'string'
  );
}

/** Decodes a SECRETS_KEY: 32 bytes in base64 (or base64url); null when it is not. */
export function decodeSecretsKey(text: string): Uint8Array | null {
  const clean = text.trim().replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) return null;
  try {
    const bytes = fromBase64(clean);
    return bytes.length === 32 ? bytes : null;
  } catch {
    return null;
  }
}

interface Key {
  id: string;
  key: CryptoKey;
}

/** Creates the secret box of a process's keys; the keys are imported on first use. */
export function createSecretBox({ current, previous }: SecretKeys = {}): SecretBox {
  const subtle = globalThis.crypto.subtle;
  let imported: Promise<{ current?: Key | undefined; previous?: Key | undefined }> | undefined;
  const load = () =>
    (imported ??= (async () => ({ current: current && (await importKey(current)), previous: previous && (await importKey(previous)) }))());

  const parse = (sealed: SealedValue) => {
    const [version, id, iv, data] = sealed.$sealed.split('.');
    const damaged = new SecretsKeyError(`a sealed value is damaged (expected ${VERSION}.<key id>.<iv>.<ciphertext>)`);
    if (version !== VERSION || !id || !iv || !data) throw damaged;
    try {
      return { id, iv: fromBase64(iv), data: fromBase64(data) };
    } catch {
      throw damaged;
    }
  };

  return {
    canSeal: !!current,
    async seal(plaintext, label) {
      const key = (await load()).current;
      if (!key) throw new SecretsKeyError(`cannot encrypt ${label}: SECRETS_KEY is not set; ${MAKE_SECRETS_KEY}`);
      const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const data = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encode(label) }, key.key, encode(plaintext));
      return { $sealed: [VERSION, key.id, toBase64(iv), toBase64(new Uint8Array(data))].join('.') };
    },
    async open(sealed, label) {
      const { id, iv, data } = parse(sealed);
      const keys = await load();
      const key = [keys.current, keys.previous].find((k) => k?.id === id);
      if (!key) {
        const held = [
          keys.current && `SECRETS_KEY is key ${keys.current.id}`,
          keys.previous && `SECRETS_KEY_PREVIOUS is key ${keys.previous.id}`,
        ]
          .filter(Boolean)
          .join(', ');
        throw new SecretsKeyError(
          `${label} was encrypted with key ${id}, which this process does not hold (${held || 'neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS is set'}); ` +
            'give it the same SECRETS_KEY as the gateway, and the previous key as SECRETS_KEY_PREVIOUS while batches sealed with it remain',
        );
      }
      try {
        return new TextDecoder().decode(await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: encode(label) }, key.key, data));
      } catch {
        throw new SecretsKeyError(`${label} does not decrypt with key ${id}: the value is damaged or was moved from another option`);
      }
    },
    async isCurrent(sealed) {
      return parse(sealed).id === (await load()).current?.id;
    },
  };

  async function importKey(given: Uint8Array): Promise<Key> {
    const raw = new Uint8Array(given);
    // The id names the key in stored values and messages: 8 hex digits of its SHA-256, which say nothing of the key.
    const digest = new Uint8Array(await subtle.digest('SHA-256', raw));
    const id = [...digest.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
    return { id, key: await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']) };
  }
}

const encode = (text: string) => new TextEncoder().encode(text);

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const normal = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(normal + '='.repeat((4 - (normal.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
