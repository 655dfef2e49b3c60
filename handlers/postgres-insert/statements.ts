import type { Sql } from 'postgres';

/** One row of the results table. */
export interface ResultRow {
  batch_id: string;
  custom_id: string;
  request_id: string;
  status_code: number | null;
  response: unknown;
  error: unknown;
}

const quote = (table: string) =>
  table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');

/** Creates the results table if it does not exist. */
export function createTableSql(table: string): string {
  return `create table if not exists ${quote(table)} (
    batch_id text not null,
    custom_id text not null,
    request_id text not null,
    status_code integer,
    response jsonb,
    error jsonb,
    written_at timestamptz not null default now(),
    primary key (batch_id, custom_id)
  )`;
}

/** Inserts a chunk of rows; rows written before are overwritten or left, as asked. Returns the rows sent. */
export async function upsertRows(
  db: Sql,
  rows: ResultRow[],
  { table, onConflict }: { table: string; onConflict: 'update' | 'nothing' },
): Promise<number> {
  // One statement per chunk with one parameter (the chunk as JSON), whatever its size:
  // Postgres allows at most 65,535 parameters per statement.
  const payload = rows.map((r) => ({ ...r, response: json(r.response), error: json(r.error) }));
  const conflict =
    onConflict === 'update'
      ? 'do update set request_id = excluded.request_id, status_code = excluded.status_code, response = excluded.response, error = excluded.error, written_at = now()'
      : 'do nothing';
  await db.unsafe(
    `insert into ${quote(table)} (batch_id, custom_id, request_id, status_code, response, error)
     select batch_id, custom_id, request_id, status_code, response::jsonb, error::jsonb
     from jsonb_to_recordset($1::text::jsonb) as t(batch_id text, custom_id text, request_id text, status_code integer, response text, error text)
     on conflict (batch_id, custom_id) ${conflict}`,
    [JSON.stringify(payload)],
  );
  return rows.length;
}

const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
