// In a repository of your own, import the SDK from the vllm-batch-server package instead:
// import { defineHandler, z } from 'vllm-batch-server/handlers/sdk';
import postgres from 'postgres';
import { defineHandler, HandlerError, z } from '../../../../handlers/sdk/index.ts';
import { auditRows, createAuditTable, writeAuditRows } from './audit-table.ts';

/**
 * Records every result of a finished batch in an audit table: who asked for the review,
 * under which case number, and what each request came to. One row per (batch, request);
 * a re-run rewrites the same rows.
 */
export default defineHandler({
  name: 'auditLog',
  description: 'Records each result of the batch (status, error code, tokens) in the compliance audit table, under a case number.',
  options: z.object({
    caseNumber: z
      .string()
      .regex(/^CASE-\d+$/, { error: 'expected a case number such as CASE-1234' })
      .describe('The compliance case the batch belongs to.'),
    requestedBy: z.email({ error: 'expected an email address' }).describe('Who asked for the batch.'),
    retention: z.enum(['short', 'standard', 'legal_hold']).default('standard').describe('How long the audit rows are kept.'),
  }),
  deploymentOptions: z.object({
    databaseUrl: z.url({ protocol: /^postgres(ql)?$/, error: 'expected a Postgres URL' }).describe('The audit database.'),
    table: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, { error: 'expected a lowercase table name' })
      .describe('The audit table.'),
  }),
  events: ['completed', 'expired', 'cancelled', 'failed'],
  async handle({ batch, event, options, deployment, results, logger, signal }) {
    const db = postgres(deployment.databaseUrl, { max: 1, onnotice: () => {} });
    signal.addEventListener('abort', () => void db.end({ timeout: 0 }), { once: true });
    try {
      await createAuditTable(db, deployment.table);
      let written = 0;
      for await (const rows of auditRows(results(), { batch, event, ...options }, 500)) {
        written += await writeAuditRows(db, deployment.table, rows);
      }
      logger.info('audit rows written', { rows: written, case: options.caseNumber });
      return { rows: written, table: deployment.table };
    } catch (error) {
      // A missing permission will not fix itself; anything else is retried.
      if ((error as { code?: string }).code === '42501')
        throw new HandlerError(`the audit database refused: ${(error as Error).message}`, { retryable: false });
      throw error;
    } finally {
      await db.end({ timeout: 5 });
    }
  },
});
