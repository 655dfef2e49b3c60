const STORAGE_KEY = 'vbs.apiKey';

/** The API key, entered once and kept in the browser's localStorage. */
export interface KeyStore {
  get(): string | null;
  set(key: string): void;
  clear(): void;
  /** The `Authorization` header value, or nothing without a key. */
  headers(): Record<string, string>;
}

/** Creates the key store over a Storage (localStorage in the page). */
export function createKeyStore(storage: Storage): KeyStore {
  return {
    get: () => storage.getItem(STORAGE_KEY),
    set: (key) => storage.setItem(STORAGE_KEY, key.trim()),
    clear: () => storage.removeItem(STORAGE_KEY),
    headers(): Record<string, string> {
      const key = storage.getItem(STORAGE_KEY);
      return key ? { authorization: `Bearer ${key}` } : {};
    },
  };
}
