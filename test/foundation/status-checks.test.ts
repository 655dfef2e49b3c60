import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type SQL } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { describe, expect, it } from 'vitest';
import {
  BATCH_STATUSES,
  createDatabase,
  errorCodes,
  FINISHED_REQUEST_STATES,
  HANDLER_RUN_STATUSES,
  MIGRATIONS_FOLDER,
  REQUEST_STATES,
  rows,
  runMigrations,
  type Database,
} from '../../schema/index.ts';
import { createTestDatabase, dropTestDatabase, DRIVERS, useDriverDatabase } from '../helpers/database.ts';
import { applyMigrations } from './upgrade-fixtures.ts';

const CHECK_VIOLATION = '23514';
/** The migration that added the checks: the upgrade test builds the schema from the ones before it. */
const CHECKS_MIGRATION = '0005_status-checks';

// One row of each status column per status, in a batch of its own (`b` is the batch's id).
const batchRow = (b: string, status: string) => sql`
  insert into batches (id, owner, endpoint, completion_window, status, input_file_id, expires_at)
  values (${b}, 'o', '/v1/chat/completions', '24h', ${status}, ${`file-${b}`}, now() + interval '1 day')`;
const requestRow = (b: string, line: number, status: string) => sql`
  insert into requests (batch_id, line, custom_id, model, body, status) values (${b}, ${line}, ${`r-${line}`}, 'm', '{}', ${status})`;
const resultRow = (b: string, line: number, status: string) => sql`
  insert into results (batch_id, line, status) values (${b}, ${line}, ${status})`;
const handlerRunRow = (b: string, handler: string, status: string) => sql`
  insert into handler_runs (batch_id, handler, event, status) values (${b}, ${handler}, 'completed', ${status})`;

/** Inserts a row of every status each status column may hold; returns how many of each table. */
async function rowsOfEveryStatus(database: Database, prefix: string) {
  const { db } = database;
  for (const status of BATCH_STATUSES) await db.execute(batchRow(`${prefix}-${status}`, status));
  const b = `${prefix}-in_progress`;
  for (const [line, status] of REQUEST_STATES.entries()) await db.execute(requestRow(b, line + 1, status));
  for (const [line, status] of FINISHED_REQUEST_STATES.entries()) await db.execute(resultRow(b, line + 1, status));
  for (const status of HANDLER_RUN_STATUSES) await db.execute(handlerRunRow(b, `h-${status}`, status));
}

async function refused(database: Database, statement: SQL): Promise<string[]> {
  return database.db.execute(statement).then(
    () => [],
    (error: unknown) => errorCodes(error),
  );
}

describe.each(DRIVERS)('the status columns on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('accept every status of their state machine', async () => {
    await rowsOfEveryStatus(database(), 'every');
    const [counts] = await rows<Record<string, number>>(
      database().db,
      sql`select (select count(*)::int from batches where id like 'every-%') as batches,
                 (select count(*)::int from requests where batch_id like 'every-%') as requests,
                 (select count(*)::int from results where batch_id like 'every-%') as results,
                 (select count(*)::int from handler_runs where batch_id like 'every-%') as "handlerRuns"`,
    );
    expect(counts).toEqual({
      batches: BATCH_STATUSES.length,
      requests: REQUEST_STATES.length,
      results: FINISHED_REQUEST_STATES.length,
      handlerRuns: HANDLER_RUN_STATUSES.length,
    });
  });

  it('refuse a status outside their state machine, on insert and on update', async () => {
    await database().db.execute(batchRow('refusing', 'in_progress'));
    await database().db.execute(requestRow('refusing', 1, 'queued'));
    await database().db.execute(resultRow('refusing', 1, 'succeeded'));
    await database().db.execute(handlerRunRow('refusing', 'h', 'queued'));
    const bad: Record<string, SQL> = {
      'batches insert': batchRow('refused', 'paused'),
      'batches update': sql`update batches set status = 'done' where id = 'refusing'`,
      'requests insert': requestRow('refusing', 2, 'running'),
      'requests update': sql`update requests set status = 'split' where batch_id = 'refusing'`,
      // An open state is derived (the view request_states), never stored as a result.
      'results insert': resultRow('refusing', 2, 'queued'),
      'results update': sql`update results set status = 'leased' where batch_id = 'refusing'`,
      'handler_runs insert': handlerRunRow('refusing', 'h2', 'failed'),
      'handler_runs update': sql`update handler_runs set status = 'lost' where batch_id = 'refusing'`,
    };
    for (const [what, statement] of Object.entries(bad)) expect(await refused(database(), statement), what).toContain(CHECK_VIOLATION);
    const [kept] = await rows<{ statuses: string }>(
      database().db,
      sql`select (select status from batches where id = 'refusing') || ' ' || (select status from requests where batch_id = 'refusing')
            || ' ' || (select status from results where batch_id = 'refusing') || ' ' || (select status from handler_runs where batch_id = 'refusing')
            as statuses`,
    );
    expect(kept?.statuses).toBe('in_progress queued succeeded queued');
  });
});

/** Empties the database and applies the migrations before `tag`, recorded as runMigrations records them. */
async function migratedUntil(database: Database, tag: string): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  const before = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(before, `${tag} is in the journal`).toBeGreaterThan(0);
  await applyMigrations(database, migrations.slice(0, before));
}

describe.each(DRIVERS)('the status checks migration on %s', (driver) => {
  it('upgrades a database holding rows of every status, and the upgraded one refuses an unknown status', async () => {
    const pg = driver === 'postgres' ? await createTestDatabase() : undefined;
    const database = pg?.database ?? (await createDatabase({ dataDir: 'memory://' }));
    try {
      await migratedUntil(database, CHECKS_MIGRATION);
      await rowsOfEveryStatus(database, 'before');
      await runMigrations(database);
      const checks = await rows<{ name: string }>(
        database.db,
        sql`select conname as name from pg_constraint where contype = 'c' and conname like '%status_check' order by 1`,
      );
      expect(checks.map((c) => c.name)).toEqual([
        'batches_status_check',
        'handler_runs_status_check',
        'requests_status_check',
        'results_status_check',
      ]);
      const [kept] = await rows<{ n: number }>(database.db, sql`select count(*)::int as n from batches where id like 'before-%'`);
      expect(kept?.n).toBe(BATCH_STATUSES.length);
      expect(await refused(database, batchRow('after', 'paused'))).toContain(CHECK_VIOLATION);
    } finally {
      if (pg) await dropTestDatabase(pg);
      else await database.close();
    }
  }, 60_000);
});
