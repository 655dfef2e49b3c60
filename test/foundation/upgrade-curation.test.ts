import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  insertHandlerRuns,
  MIGRATIONS_FOLDER,
  recordAnnotation,
  rows,
  runMigrations,
  type Database,
} from '../../schema/index.ts';
import { DRIVERS, createTestDatabase, dropTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { answerLines } from '../helpers/results.ts';
import { insertBatch } from '../queue/batch-fixtures.ts';
import { applyMigrations } from './upgrade-fixtures.ts';

// 0007_curation replaces handler_runs' unique index on (batch, handler) by two partial ones, so
// that annotation changes can have runs of their own. A database of the release before it, with
// its handler runs, must keep them and still refuse a second run for a batch's final status.
describe.each(DRIVERS)('a database of the release before curation, upgraded on %s', (driver) => {
  let database: Database;
  let postgresDb: TestDatabase | undefined;
  let batchId: string;

  beforeAll(async () => {
    if (driver === 'postgres') {
      postgresDb = await createTestDatabase();
      database = postgresDb.database;
    } else database = await createDatabase({ dataDir: 'memory://' });
    const before = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).slice(0, 7);
    await applyMigrations(database, before);
    batchId = await insertBatch(database, { count: 3, handlers: { webhook: { url: 'https://example.com/hook' } } });
    await answerLines(database.db, batchId, { status: 'succeeded', statusCode: 200, response: '{"choices":[]}' });
    await database.db.execute(
      sql`insert into handler_runs (batch_id, handler, event, status, attempts) values (${batchId}, 'webhook', 'completed', 'succeeded', 1)`,
    );
    await runMigrations(database);
  }, 60_000);
  afterAll(async () => {
    if (postgresDb) await dropTestDatabase(postgresDb);
    else await database?.close();
  });

  it("keeps the previous release's runs, and still makes one run per handler for a batch's final status", async () => {
    await insertHandlerRuns(database.db, batchId, 'completed');
    const runs = await rows<{ handler: string; status: string; line: number | null }>(
      database.db,
      sql`select handler, status, line from handler_runs where batch_id = ${batchId}`,
    );
    expect(runs).toEqual([{ handler: 'webhook', status: 'succeeded', line: null }]);
  });

  it('takes annotations of the old batch, with a run per change for handlers that react to them', async () => {
    const change = (gold: boolean) =>
      recordAnnotation(database.db, {
        batchId,
        customId: 'req-2',
        owner: 'local',
        patch: { gold },
        annotator: 'reviewer',
        source: 'api',
        annotationHandlers: ['webhook'],
      });
    const first = await change(true);
    const second = await change(false);
    expect(first.ok && second.ok).toBe(true);
    const runs = await rows<{ event: string; line: number; gold: boolean }>(
      database.db,
      sql`select event, line, (annotation->>'gold')::boolean as gold from handler_runs
          where batch_id = ${batchId} and annotation_seq is not null order by annotation_seq`,
    );
    expect(runs).toEqual([
      { event: 'result.annotated', line: 2, gold: true },
      { event: 'result.annotated', line: 2, gold: false },
    ]);
  });
});
