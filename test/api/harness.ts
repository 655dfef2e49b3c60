import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { useTestDatabase, type TestDatabase } from '../helpers/database.ts';

export { FIXTURES, fixture } from '../helpers/fixtures.ts';

/** The gateway app in this process on a fresh Postgres database, and OpenAI SDK clients calling it in-process. */
export interface ApiHarness {
  app: ReturnType<typeof createApp>;
  db: TestDatabase;
  /** An OpenAI SDK client whose requests go straight to `app.fetch`. */
  client(apiKey?: string): OpenAI;
  /** Waits until no batch validation is running. */
  validated(): Promise<void>;
}

/** Gives the test file a gateway app with the given environment (API_KEYS, limits, ...). */
export function useApi(env: Record<string, string> = {}): () => ApiHarness {
  const test = useTestDatabase();
  let harness: ApiHarness | undefined;
  beforeAll(() => {
    const db = test();
    const app = createApp({ config: loadGatewayConfig(env), database: db.database, logger: createLogger({ level: 'silent' }) });
    harness = {
      app,
      db,
      client: (apiKey = 'unused') =>
        new OpenAI({
          apiKey,
          baseURL: 'http://gateway.test/v1',
          maxRetries: 0,
          fetch: (url, init) => Promise.resolve(app.fetch(new Request(url, init))),
        }),
      validated: () => app.validator.idle(),
    };
  });
  afterAll(async () => {
    await harness?.app.close();
  });
  return () => {
    if (!harness) throw new Error('useApi: call the getter inside a test');
    return harness;
  };
}
