import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createHandlerRunner } from '../../fleet/handler-runner/index.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/start.ts';
import { loadHandlers, splitManifestList } from '../../handlers/index.ts';
import { ANY_DESTINATION } from '../../handlers/sdk/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { finishedBatch, runsEnded } from './support/batches.ts';

const MANIFEST = fileURLToPath(new URL('../../docs/examples/private-manifest/manifest.json', import.meta.url));

describe('a private manifest loaded through HANDLER_MANIFESTS', () => {
  const test = useTestDatabase();

  it('adds its handler to the gateway schema and runs it in the fleet', async () => {
    const { url, database } = test();
    const env = {
      DATABASE_URL: url,
      HANDLER_MANIFESTS: MANIFEST,
      AUDIT_DATABASE_URL: url,
      AUDIT_TABLE: 'compliance_audit',
      LOG_LEVEL: 'silent',
    };
    const gateway = await startGateway(loadGatewayConfig(env));
    try {
      const res = await gateway.fetch(
        new Request('http://gateway.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: `{ handlers { name manifest } audit: __type(name: "AuditLogHandlerOptions") { description inputFields { name description type { kind name ofType { name } } } } }`,
          }),
        }),
      );
      const { data } = (await res.json()) as { data: any };
      expect(data.handlers.map((h: { name: string }) => h.name)).toEqual(['webhook', 'labelStudio', 'postgresInsert', 'auditLog']);
      expect(data.handlers[3].manifest).toBe(MANIFEST);
      expect(data.audit.description).toContain('compliance audit table');
      expect(data.audit.inputFields).toContainEqual({
        name: 'caseNumber',
        description: 'The compliance case the batch belongs to.',
        type: { kind: 'NON_NULL', name: null, ofType: { name: 'String' } },
      });
      expect(data.audit.inputFields.find((f: { name: string }) => f.name === 'retention').type).toEqual({
        kind: 'ENUM',
        name: 'AuditLogHandlerOptionsRetention',
        ofType: null,
      });
    } finally {
      await gateway.close();
    }

    // The fleet loads the same manifests and runs the handler for a batch that asked for it.
    const registry = await loadHandlers({ manifests: splitManifestList(env.HANDLER_MANIFESTS), env });
    const handlers = registry.parseBatchHandlers({ auditLog: { caseNumber: 'CASE-42', requestedBy: 'jo@acme.test' } });
    const batchId = await finishedBatch(database, { succeeded: 40, failed: 2, handlers });
    const runner = createHandlerRunner({
      database,
      registry,
      destinations: ANY_DESTINATION,
      logger: createLogger({ level: 'silent' }),
      pollIntervalMs: 50,
    });
    runner.start();
    try {
      const [run] = await runsEnded(database, batchId);
      expect(run).toMatchObject({ handler: 'auditLog', status: 'succeeded', result: { rows: 42, table: 'compliance_audit' } });
    } finally {
      await runner.stop();
    }
    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const audit =
        await db`select outcome, case_number, retention, count(*)::int as n from compliance_audit where batch_id = ${batchId} group by 1, 2, 3 order by 1`;
      expect(audit).toEqual([
        { outcome: 'failed', case_number: 'CASE-42', retention: 'standard', n: 2 },
        { outcome: 'succeeded', case_number: 'CASE-42', retention: 'standard', n: 40 },
      ]);
    } finally {
      await db.end();
    }
  });

  it('refuses a batch whose options do not validate against the private handler', async () => {
    const registry = await loadHandlers({ manifests: [MANIFEST], env: { AUDIT_DATABASE_URL: test().url } });
    expect(() => registry.parseBatchHandlers({ auditLog: { caseNumber: '42', requestedBy: 'jo' } })).toThrow(
      'handlers.auditLog.caseNumber: expected a case number such as CASE-1234; handlers.auditLog.requestedBy: expected an email address',
    );
  });
});
