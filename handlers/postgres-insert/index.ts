import postgres from 'postgres';
import { defineHandler, HandlerError, secret, z } from '../sdk/index.ts';
import { createTableSql, upsertRows } from './statements.ts';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;
const postgresUrl = (what: string) => z.url({ protocol: /^postgres(ql)?$/, error: `expected ${what} (postgres://...)` });

/** The postgres-insert handler: the batch's results as rows of a table in the user's database. */
export default defineHandler({
  name: 'postgresInsert',
  description:
    'Writes every result as a row (batch_id, custom_id, request_id, status_code, response, error) of a table in a Postgres database, in chunks, idempotently: a re-run updates the rows it wrote before (primary key batch_id, custom_id).',
  options: z.object({
    table: z
      .string()
      .regex(IDENTIFIER, { error: 'expected a table name (letters, digits, _; optionally schema.table)' })
      .default('batch_results')
      .describe('The table to write into, optionally schema-qualified.'),
    url: secret(postgresUrl('a Postgres connection URL'))
      .optional()
      .describe("The database's connection URL (it holds the password); default: the deployment's."),
    createTable: z.boolean().default(false).describe('Create the table (and its primary key) when it does not exist.'),
    chunkSize: z.number().int().min(1).max(10_000).default(500).describe('Rows per insert statement.'),
    onConflict: z
      .enum(['update', 'nothing'])
      .default('update')
      .describe('What a re-run does with rows that exist: overwrite them, or leave them.'),
  }),
  deploymentOptions: z.object({
    url: postgresUrl('a Postgres connection URL').optional().describe('The default connection URL.'),
  }),
  check(options, deployment) {
    if (!options.url && !deployment.url) return [{ path: ['url'], message: 'required: this deployment has no default database URL' }];
  },
  async handle(context) {
    const { options, deployment, batch } = context;
    const url = (options.url ?? deployment.url) as string;
    await context.checkDestination(url);
    const db = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10, connection: { application_name: 'vbs-postgres-insert' } });
    const stop = () => void db.end({ timeout: 0 });
    context.signal.addEventListener('abort', stop, { once: true });
    let written = 0;
    try {
      if (options.createTable) await db.unsafe(createTableSql(options.table));
      let chunk: Parameters<typeof upsertRows>[1] = [];
      for await (const result of context.results()) {
        chunk.push({
          batch_id: batch.id,
          custom_id: result.custom_id,
          request_id: result.id,
          status_code: result.response?.status_code ?? null,
          response: result.response?.body ?? null,
          error: result.error,
        });
        if (chunk.length >= options.chunkSize) {
          written += await upsertRows(db, chunk, options);
          chunk = [];
        }
      }
      if (chunk.length) written += await upsertRows(db, chunk, options);
    } catch (error) {
      throw classify(error, options.table);
    } finally {
      context.signal.removeEventListener('abort', stop);
      await db.end({ timeout: 5 });
    }
    context.logger.info('results written to Postgres', { table: options.table, rows: written });
    return { table: options.table, rows: written };
  },
});

// SQLSTATE classes worth another try: connection (08), rollback (40), resources (53), operator intervention (57).
const TRANSIENT = /^(08|40|53|57)/;

function classify(error: unknown, table: string): unknown {
  const code = (error as { code?: string }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || TRANSIENT.test(code)) return error;
  const hint = code === '42P01' ? `; create table ${table} first, or set createTable: true` : '';
  return new HandlerError(`Postgres refused the write (${code}): ${(error as Error).message}${hint}`, { retryable: false, cause: error });
}
