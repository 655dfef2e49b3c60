import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as tables from './tables/index.ts';

/** The drizzle database, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, typeof tables>;

/** A transaction or the database itself: statements accept either. */
export type Executor = Pick<Db, 'execute' | 'select' | 'insert' | 'update' | 'delete' | 'transaction'>;

/** A connection to Postgres (postgres.js) or to the embedded PGlite, behind one interface. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  /** Listens on a NOTIFY channel; resolves to a function that stops listening. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link createDatabase}. */
export interface DatabaseOptions {
  /** A Postgres URL; when absent, the embedded PGlite database under `dataDir` is used. */
  url?: string | undefined;
  /** The folder of the embedded database, or `memory://` for one that lives in memory. */
  dataDir?: string | undefined;
  /** Connection pool size for postgres.js. */
  maxConnections?: number | undefined;
  applicationName?: string | undefined;
}

/** Opens the database: postgres.js when a URL is given, PGlite (persisted under `dataDir`) otherwise. */
export async function createDatabase({
  url,
  dataDir = './.data',
  maxConnections = 10,
  applicationName = 'vllm-batch-server',
}: DatabaseOptions = {}): Promise<Database> {
  return url ? openPostgres(url, maxConnections, applicationName) : openPglite(dataDir);
}

function openPostgres(url: string, max: number, applicationName: string): Database {
  const client = postgres(url, {
    max,
    onnotice: () => {},
    connection: { application_name: applicationName },
    idle_timeout: 30,
    connect_timeout: 10,
  });
  const db = drizzlePostgres({ client, schema: tables }) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    async listen(channel, onMessage) {
      const sub = await client.listen(channel, (payload) => onMessage(payload));
      return () => sub.unlisten();
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string): Promise<Database> {
  // `memory://` keeps the database in memory (tests); anything else is a folder on disk.
  let dir = dataDir;
  if (!dataDir.startsWith('memory://')) {
    dir = join(dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
  }
  const client = await PGlite.create(dir);
  const db = drizzlePglite({ client, schema: tables }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    listen: (channel, onMessage) => client.listen(channel, onMessage),
    async notify(channel, payload) {
      await client.query('select pg_notify($1, $2)', [channel, payload]);
    },
    close: () => client.close(),
  };
}

/** Runs raw SQL and returns its rows, the same way on both drivers. */
export async function rows<T>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
