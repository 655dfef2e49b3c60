import { CliError, EXIT } from './exit-codes.ts';

/** The gateway the CLI talks to when neither `--url` nor VBS_URL says otherwise (`npm start`'s address). */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Where the CLI finds the gateway and how it presents itself. */
export interface CliConfig {
  /** The gateway's base URL, without a trailing slash. */
  url: string;
  /** The bearer key, when the gateway runs with API_KEYS. */
  apiKey: string | undefined;
  /** False with NO_COLOR set (https://no-color.org). */
  color: boolean;
}

/** What the command line may override. */
export interface CliOverrides {
  url?: string | undefined;
  apiKey?: string | undefined;
}

/** Resolves the configuration: flags first, then VBS_URL / VBS_API_KEY, then the default. */
export function loadCliConfig(overrides: CliOverrides = {}, env: Record<string, string | undefined> = process.env): CliConfig {
  const url = overrides.url ?? (env.VBS_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(EXIT.USAGE, `The gateway URL "${url}" is not a URL; pass --url http://HOST:PORT or set VBS_URL.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(EXIT.USAGE, `The gateway URL "${url}" must start with http:// or https://.`);
  }
  return {
    url: url.replace(/\/+$/, ''),
    apiKey: overrides.apiKey ?? (env.VBS_API_KEY || undefined),
    color: !env.NO_COLOR,
  };
}
