import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { createDatabase, runMigrations } from '../../schema/index.ts';
import { databaseUrl, TEST_POSTGRES_URL } from '../config.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
    runId: string;
  }
}

/**
 * Migrates one template database for the whole run; every test file clones its own
 * database from it (see test/helpers/database.ts). Teardown drops them all.
 */
export default async function setup(project: TestProject) {
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  const template = `vbs_tpl_${runId}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${template}"`);
  const database = await createDatabase({ url: databaseUrl(template), maxConnections: 1 });
  await runMigrations(database);
  await database.close();
  project.provide('templateDatabase', template);
  project.provide('runId', runId);

  return async () => {
    const leftovers = await admin<{ datname: string }[]>`
      select datname from pg_database where datname like ${`vbs_%${runId}%`}`;
    for (const { datname } of leftovers) {
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
    await admin.end();
  };
}
