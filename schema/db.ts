import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { is, type SQL } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres, PostgresJsSession } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as tables from './tables/index.ts';

/** The drizzle database, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, typeof tables>;

/** A transaction or the database itself: statements accept either. */
export type Executor = Pick<Db, 'execute' | 'select' | 'insert' | 'update' | 'delete' | 'transaction'>;

/** A Postgres transaction that can also stream rows in with `COPY ... FROM STDIN` (see {@link Database.copyTransaction}). */
export interface CopyTransaction {
  /**
   * Runs a statement in the transaction and returns its rows; with `prepare`, as a named
   * prepared statement of the connection (for one run many times a second, see {@link preparedRows}).
   */
  query<T>(query: SQL, options?: { prepare?: boolean }): Promise<T[]>;
  /**
   * Starts `COPY table (columns) FROM STDIN` (text format) in the transaction. Write the rows'
   * text to the stream and end it: it finishes once Postgres has stored every row; destroying
   * it aborts the COPY (and the transaction fails).
   */
  copyFrom(table: string, columns: readonly string[]): Promise<Writable>;
}

/**
 * The error codes along a database error's chain, outermost first: drivers put the SQLSTATE
 * (or their own connection code) in `code`, and drizzle wraps the driver's error as `cause`.
 */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let current = error, depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** A connection to Postgres (postgres.js) or to the embedded PGlite, behind one interface. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  /**
   * Postgres only (undefined on PGlite): runs `work` in a transaction on one connection that
   * can COPY rows in, committed when `work` resolves and rolled back when it throws. Bulk
   * writes that must be all-or-nothing use it: COPY of 100 MB of rows takes about half the
   * time of batched inserts (docs/performance.md).
   */
  readonly copyTransaction?: <T>(work: (tx: CopyTransaction) => Promise<T>) => Promise<T>;
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
    // JIT off: the lease statement's estimated cost grows with the queued batches of a model, and
    // past a few hundred Postgres would spend 50–90 ms compiling it on every lease for no gain.
    connection: { application_name: applicationName, jit: 'off' },
    idle_timeout: 30,
    connect_timeout: 10,
  });
  const db = drizzlePostgres({ client, schema: tables }) as unknown as Db;
  const dialect = new PgDialect();
  return {
    kind: 'postgres',
    db,
    async copyTransaction<T>(work: (tx: CopyTransaction) => Promise<T>): Promise<T> {
      const result = await client.begin((tx) =>
        work({
          async query<R>(query: SQL, options?: { prepare?: boolean }) {
            const { sql: text, params } = dialect.sqlToQuery(query);
            return (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
              prepare: options?.prepare ?? false,
            })) as unknown as R[];
          },
          async copyFrom(table, columns) {
            const stream = await tx
              .unsafe(`copy ${dialect.escapeName(table)} (${columns.map((c) => dialect.escapeName(c)).join(', ')}) from stdin`)
              .writable();
            return failWithRefusedCopy(stream, () => tx.unsafe('select 1'));
          },
        }),
      );
      return result as T;
    },
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

/**
 * postgres.js (3.4.9) never finishes a COPY stream whose rows Postgres refuses after the
 * stream was ended (porsager/postgres#1173): the caller would wait forever, its connection
 * left in an aborted transaction. A statement queued behind the COPY answers either way; when
 * it fails, the COPY failed, and the stream fails with it.
 */
function failWithRefusedCopy(stream: Writable, probe: () => PromiseLike<unknown>): Writable {
  const final = stream._final.bind(stream);
  stream._final = (callback) => {
    let settled = false;
    const settle = (error?: Error | null) => {
      if (settled) return;
      settled = true;
      callback(error);
    };
    final(settle);
    probe().then(undefined, (error: unknown) =>
      settle(new Error(`Postgres refused the COPY (the driver loses its error): ${(error as Error).message}`, { cause: error })),
    );
  };
  return stream;
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

const preparingDialect = new PgDialect();

/**
 * {@link rows} for a statement run many times a second: on postgres.js as a named prepared
 * statement, parsed and planned once per connection (drizzle's `execute` sends unnamed ones,
 * planned on every call); on PGlite, unnamed as {@link rows} runs it. Prepared, the ten-CTE
 * lease costs about 40% less CPU (docs/performance.md, "Lease path"). Its text must not vary
 * between calls beyond its parameters, or each variant is prepared anew.
 */
export async function preparedRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const session = (db as Partial<Pick<Db, '_'>>)._?.session;
  if (!is(session, PostgresJsSession)) return rows<T>(db, query);
  // postgres.js names and caches the statement per connection by its text; any name turns it on.
  const prepared = session.prepareQuery(preparingDialect.sqlToQuery(query), undefined, 'prepared', false);
  return (await prepared.execute()) as T[];
}
