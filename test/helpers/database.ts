import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDatabase, runMigrations, type Database } from '../../schema/index.ts';
import { databaseUrl, TEST_POSTGRES_URL } from '../config.ts';

/** A database of one's own for a test file: its URL (for child processes) and an open connection. */
export interface TestDatabase {
  url: string;
  name: string;
  database: Database;
}

/** Creates a fresh database cloned from the run's migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `vbs_test_${inject('runId')}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}" template "${inject('templateDatabase')}"`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  return { url, name, database: await createDatabase({ url, maxConnections: 4 }) };
}

/** Closes the connection and drops the database, whatever processes still hold it. */
export async function dropTestDatabase({ name, database }: TestDatabase): Promise<void> {
  await database.close();
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

/** Opens a fresh, migrated, in-memory PGlite database. */
export async function createPgliteDatabase(): Promise<Database> {
  const database = await createDatabase({ dataDir: 'memory://' });
  await runMigrations(database);
  return database;
}

/** Gives the test file a fresh Postgres database for its whole run. */
export function useTestDatabase(): () => TestDatabase {
  let current: TestDatabase | undefined;
  beforeAll(async () => {
    current = await createTestDatabase();
  });
  afterAll(async () => {
    if (current) await dropTestDatabase(current);
  });
  return () => {
    if (!current) throw new Error('useTestDatabase: the database is created in beforeAll; call the getter inside a test');
    return current;
  };
}

/** The two database drivers, for tests that must pass on both. */
export const DRIVERS = ['postgres', 'pglite'] as const;

/** Gives the test file a database of the given driver: a Postgres clone or an in-memory PGlite. */
export function useDriverDatabase(driver: (typeof DRIVERS)[number]): () => Database {
  let pg: TestDatabase | undefined;
  let lite: Database | undefined;
  beforeAll(async () => {
    if (driver === 'postgres') pg = await createTestDatabase();
    else lite = await createPgliteDatabase();
  });
  afterAll(async () => {
    if (pg) await dropTestDatabase(pg);
    if (lite) await lite.close();
  });
  return () => {
    const database = pg?.database ?? lite;
    if (!database) throw new Error('useDriverDatabase: call the getter inside a test');
    return database;
  };
}
