import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSecretsKey } from '../../gateway/batches/secrets-key.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { defineHandler, z } from '../../handlers/sdk/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, runToEnd, start } from '../helpers/processes.ts';
import { registryOf } from './support/registry.ts';

// A gateway with API keys stores other people's webhook secrets, tokens and database URLs:
// without SECRETS_KEY it would store them in plain text, so it does not start.
const dir = mkdtempSync(join(tmpdir(), 'vbs-secrets-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const test = useTestDatabase();

describe('starting without SECRETS_KEY', () => {
  it('stops a gateway that has API keys and handlers with secret options, naming SECRETS_KEY and how to make one', async () => {
    const result = await runToEnd(BUN, ['gateway/entry/bun.ts'], {
      env: { PORT: '0', API_KEYS: 'k1', SECRETS_KEY: '', SECRETS_KEY_PREVIOUS: '', DATABASE_URL: test().url },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'SECRETS_KEY: required with API_KEYS, because installed handlers have secret options (webhook.secret, webhook.headers, labelStudio.token, postgresInsert.url)',
    );
    expect(result.stderr).toContain('openssl rand -base64 32');
  });

  it('stops npm start with API keys the same way', async () => {
    const result = await runToEnd(BUN, ['scripts/start.ts'], {
      env: {
        PORT: '0',
        API_KEYS: 'k1',
        SECRETS_KEY: '',
        DATA_DIR: join(dir, 'embedded'),
        DATABASE_URL: '',
        ENGINE_URL: '',
        ENGINE: '',
        ENGINE_CMD: '',
      },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SECRETS_KEY: required with API_KEYS');
  });

  it('refuses a SECRETS_KEY that is not 32 bytes of base64, in the gateway and in a fleet worker', async () => {
    const gateway = await runToEnd(BUN, ['gateway/entry/bun.ts'], {
      env: { PORT: '0', API_KEYS: 'k1', SECRETS_KEY: 'correct horse battery staple', DATABASE_URL: test().url },
    });
    expect(gateway.code).toBe(2);
    expect(gateway.stderr).toContain(
      'SECRETS_KEY: expected 32 random bytes in base64 (44 characters); make one with `openssl rand -base64 32`',
    );
    const worker = await runToEnd(BUN, ['fleet/entry/worker.ts'], {
      env: {
        SECRETS_KEY_PREVIOUS: randomBytes(16).toString('base64'),
        ENGINE_URL: 'http://127.0.0.1:9',
        DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none',
      },
    });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain('SECRETS_KEY_PREVIOUS: expected 32 random bytes in base64');
  });

  it('starts a keyless local gateway without a key, saying that secret options are stored as given', async () => {
    const gateway = start(BUN, ['gateway/entry/bun.ts'], {
      env: { PORT: '0', API_KEYS: '', ADMIN_API_KEYS: '', SECRETS_KEY: '', DATABASE_URL: test().url, LOG_LEVEL: 'info' },
    });
    try {
      await gateway.waitFor(/listening/, 30_000);
      expect(gateway.output()).toContain('SECRETS_KEY is not set: secret handler options of new batches are stored as given');
    } finally {
      await gateway.stop();
    }
  });

  it('lets a gateway with API keys start without a key when no installed handler has a secret option', () => {
    const plain = defineHandler({
      name: 'plain',
      description: 'No secrets.',
      options: z.object({ note: z.string() }),
      handle: async () => {},
    });
    const config = loadGatewayConfig({ API_KEYS: 'k1' });
    expect(() => requireSecretsKey(config, registryOf([plain]))).not.toThrow();
    const { handlers } = registryOf([plain]);
    expect(handlers[0]?.secretOptions).toEqual([]);
  });
});
