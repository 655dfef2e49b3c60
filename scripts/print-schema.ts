// `npm run schema:print`: writes the gateway's GraphQL schema to schema.graphql. With --check, only
// says whether the committed file is stale (exit 1) — a test does the same in CI.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { printGatewaySchema, SCHEMA_FILE } from '../gateway/graphql/print-schema.ts';

const path = join(resolve(import.meta.dirname, '..'), SCHEMA_FILE);
const printed = await printGatewaySchema();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(path, 'utf8');
  } catch {}
  if (committed !== printed) {
    console.error(`${SCHEMA_FILE} is stale; run npm run schema:print and commit it.`);
    process.exit(1);
  }
  console.log(`${SCHEMA_FILE} is up to date`);
} else {
  writeFileSync(path, printed);
  console.log(`wrote ${SCHEMA_FILE}`);
}
