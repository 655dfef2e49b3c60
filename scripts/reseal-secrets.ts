// `npm run secrets:reseal`: seals every batch's secret handler options with SECRETS_KEY: plain ones
// (batches stored before a key was set, or by a release before secrets were sealed) and those sealed
// with SECRETS_KEY_PREVIOUS, after which the previous key can be dropped. Safe while the system runs.
import { ConfigError } from '../core/env.ts';
import { MAKE_SECRETS_KEY, resealBatches } from '../core/secrets/index.ts';
import { secretOptionsOf } from '../gateway/batches/batch-handlers.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { loadHandlers, splitManifestList } from '../handlers/index.ts';
import { createDatabase, runMigrations } from '../schema/index.ts';

try {
  const config = loadGatewayConfig();
  if (!config.secrets.canSeal)
    throw new ConfigError([{ variable: 'SECRETS_KEY', expected: `required: the key to seal with; ${MAKE_SECRETS_KEY}` }]);
  const handlers = await loadHandlers({ manifests: splitManifestList(config.HANDLER_MANIFESTS), env: config.manifestEnv ?? {} });
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, applicationName: 'vbs-reseal' });
  try {
    await runMigrations(database);
    const outcome = await resealBatches(database.db, { box: config.secrets, secretOptionsOf: secretOptionsOf(handlers) });
    console.log(`sealed the secret options of ${outcome.resealed} of ${outcome.batches} batches with handlers with SECRETS_KEY`);
    for (const { id, problem } of outcome.unreadable) console.error(`${id}: ${problem}`);
    if (outcome.unreadable.length) process.exitCode = 1;
  } finally {
    await database.close();
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
