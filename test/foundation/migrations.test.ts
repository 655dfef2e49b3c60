import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDatabase, rows, runMigrations } from '../../schema/index.ts';
import { createTestDatabase, dropTestDatabase, DRIVERS, useDriverDatabase } from '../helpers/database.ts';

const TABLES = [
  'batches',
  'file_chunks',
  'files',
  'fleet_samples',
  'handler_runs',
  'models',
  'owner_limits',
  'owner_weights',
  'rate_buckets',
  'request_ranges',
  'requests',
  'result_annotations',
  'result_metadata',
  'results',
  'workers',
];

describe.each(DRIVERS)('migrations on %s', (driver) => {
  const database = useDriverDatabase(driver);

  it('creates every table of the data model', async () => {
    const found = await rows<{ table_name: string }>(
      database().db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
    );
    expect(found.map((r) => r.table_name)).toEqual(TABLES);
  });

  it('applies nothing the second time', async () => {
    await runMigrations(database());
    const applied = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(applied[0]?.n).toBeGreaterThan(0);
    await runMigrations(database());
    const again = await rows<{ n: number }>(database().db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(again[0]?.n).toBe(applied[0]?.n);
  });
});

describe('migrations on an empty Postgres database', () => {
  it('are safe when two processes start at once', async () => {
    const test = await createTestDatabase();
    try {
      // Empty the clone so both connections race to create everything.
      await test.database.db.execute(sql`drop schema public cascade; drop schema drizzle cascade; create schema public`);
      const a = await createDatabase({ url: test.url, maxConnections: 2 });
      const b = await createDatabase({ url: test.url, maxConnections: 2 });
      await Promise.all([runMigrations(a), runMigrations(b)]);
      const applied = await rows<{ n: number }>(a.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      const tables = await rows<{ n: number }>(
        a.db,
        sql`select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
      );
      expect(tables[0]?.n).toBe(TABLES.length);
      expect(applied[0]?.n).toBeGreaterThan(0);
      await a.close();
      await b.close();
    } finally {
      await dropTestDatabase(test);
    }
  });
});
