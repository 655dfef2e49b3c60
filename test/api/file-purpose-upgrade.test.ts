import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { createDatabase, MIGRATIONS_FOLDER, rows, runMigrations, type Database } from '../../schema/index.ts';
import { createTestDatabase, dropTestDatabase, DRIVERS } from '../helpers/database.ts';

/** Empties the database and applies the first migration only, as a release whose error files were batch_error left it. */
async function firstReleaseOnly(database: Database) {
  const [first] = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  await database.db.execute(sql`drop schema if exists drizzle cascade`);
  await database.db.execute(sql`drop schema public cascade`);
  await database.db.execute(sql`create schema public`);
  for (const statement of first!.sql) await database.db.execute(sql.raw(statement));
  await database.db.execute(sql`create schema drizzle`);
  await database.db.execute(sql`create table drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`);
  await database.db.execute(
    sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${first!.hash}, ${first!.folderMillis})`,
  );
}

/** A batch of two requests that ended with one result in each file, its error file written as that release did (`batch_error`). */
async function oldBatch(database: Database) {
  const { db } = database;
  await db.execute(
    sql`insert into files (id, owner, purpose, filename, bytes, lines) values ('file-in', 'local', 'batch', 'in.jsonl', 10, 2)`,
  );
  await db.execute(sql`insert into files (id, owner, purpose, filename, bytes, lines, batch_id) values
    ('file-out', 'local', 'batch_output', 'b_output.jsonl', 1, 1, 'batch_old'), ('file-err', 'local', 'batch_error', 'b_error.jsonl', 1, 1, 'batch_old')`);
  await db.execute(sql`insert into batches (id, owner, endpoint, completion_window, status, input_file_id, output_file_id, error_file_id, total, completed, failed, expires_at, completed_at)
    values ('batch_old', 'local', '/v1/embeddings', '24h', 'completed', 'file-in', 'file-out', 'file-err', 2, 1, 1, now() + interval '1 day', now())`);
  await db.execute(sql`insert into requests (batch_id, line, custom_id, model, body, status, status_code, response, finished_at) values
    ('batch_old', 1, 'ok', 'm', '{}', 'succeeded', 200, '{"object":"list"}', now()),
    ('batch_old', 2, 'bad', 'm', '{}', 'failed', 400, '{"error":{"message":"no"}}', now())`);
}

describe.each(DRIVERS)('a database made before error files were shown as batch_output, on %s', (driver) => {
  it('upgrades in place without rewriting a row: its error files stay batch_error (what a previous-release gateway serves by) and are shown, listed and served as batch_output', async () => {
    const pg = driver === 'postgres' ? await createTestDatabase() : undefined;
    const database = pg?.database ?? (await createDatabase({ dataDir: 'memory://' }));
    try {
      await firstReleaseOnly(database);
      await oldBatch(database);
      await runMigrations(database);
      const stored = await rows<{ id: string; purpose: string }>(database.db, sql`select id, purpose from files order by id`);
      expect(stored).toEqual([
        { id: 'file-err', purpose: 'batch_error' },
        { id: 'file-in', purpose: 'batch' },
        { id: 'file-out', purpose: 'batch_output' },
      ]);
      const app = createApp({ config: loadGatewayConfig({}), database, logger: createLogger({ level: 'silent' }) });
      try {
        const listed = (await (await app.fetch(new Request('http://localhost/v1/files?purpose=batch_output'))).json()) as {
          data: { id: string; purpose: string }[];
        };
        expect(listed.data.map((f) => [f.id, f.purpose])).toEqual([
          ['file-err', 'batch_output'],
          ['file-out', 'batch_output'],
        ]);
        const errors = await (await app.fetch(new Request('http://localhost/v1/files/file-err/content'))).text();
        expect(
          errors
            .trimEnd()
            .split('\n')
            .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
        ).toEqual(['bad']);
        const outputs = await (await app.fetch(new Request('http://localhost/v1/files/file-out/content'))).text();
        expect(
          outputs
            .trimEnd()
            .split('\n')
            .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
        ).toEqual(['ok']);
      } finally {
        await app.close();
      }
    } finally {
      if (pg) await dropTestDatabase(pg);
      else await database.close();
    }
  });
});
