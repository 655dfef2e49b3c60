import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { printGatewaySchema, SCHEMA_FILE } from '../../gateway/graphql/print-schema.ts';
import { ROOT } from '../helpers/processes.ts';

describe('the committed GraphQL schema', () => {
  it('is what the gateway serves (run npm run schema:print after changing a type)', async () => {
    const committed = readFileSync(join(ROOT, SCHEMA_FILE), 'utf8');
    // A plain equality, not a snapshot: a stale file must fail, never be rewritten by the test run.
    expect(committed === (await printGatewaySchema()), `${SCHEMA_FILE} is stale; run npm run schema:print and commit it`).toBe(true);
  });

  it("holds the Batch API's queries and mutations and the built-in handlers' options", async () => {
    const printed = await printGatewaySchema();
    for (const field of [
      'batch(id: ID!): Batch',
      'batches(',
      'file(id: ID!): File',
      'models(',
      'workers(',
      'batchStats(',
      'uploadFile(',
      'createBatch(',
      'cancelBatch(',
      'retryBatch(',
      'registerModel(',
      'updateModel(',
      'removeModel(',
      'webhook',
    ]) {
      expect(printed).toContain(field);
    }
  });
});
