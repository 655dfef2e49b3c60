export * from './tables/index.ts';
export { createDatabase, rows, type Database, type DatabaseOptions, type Db, type Executor } from './db.ts';
export { runMigrations, MIGRATIONS_FOLDER } from './migrate.ts';
export { newId } from './ids.ts';
export * from './sql/lease-requests.ts';
