// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits.
import { ConfigError } from '../core/env.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { createDatabase, runMigrations } from '../schema/index.ts';

try {
  const config = loadGatewayConfig();
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR });
  await runMigrations(database);
  await database.close();
  console.log(`migrations applied (${database.kind})`);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
