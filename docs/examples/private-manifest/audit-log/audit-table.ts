import type { Sql } from 'postgres';
import type { HandlerBatch, HandlerResult } from '../../../../handlers/sdk/index.ts';

/** One audit row. */
export interface AuditRow {
  batch_id: string;
  custom_id: string;
  event: string;
  case_number: string;
  requested_by: string;
  retention: string;
  outcome: 'succeeded' | 'failed';
  error_code: string | null;
  total_tokens: number | null;
}

/** Creates the audit table when it does not exist. */
export async function createAuditTable(db: Sql, table: string): Promise<void> {
  await db.unsafe(`create table if not exists "${table}" (
    batch_id text not null, custom_id text not null, event text not null, case_number text not null,
    requested_by text not null, retention text not null, outcome text not null, error_code text,
    total_tokens integer, recorded_at timestamptz not null default now(),
    primary key (batch_id, custom_id))`);
}

/** Turns streamed results into audit rows, `size` at a time. */
export async function* auditRows(
  results: AsyncIterable<HandlerResult>,
  about: { batch: HandlerBatch; event: string; caseNumber: string; requestedBy: string; retention: string },
  size: number,
): AsyncGenerator<AuditRow[]> {
  let rows: AuditRow[] = [];
  for await (const result of results) {
    const status = result.response?.status_code ?? 0;
    const usage = (result.response?.body as { usage?: { total_tokens?: number } } | undefined)?.usage;
    rows.push({
      batch_id: about.batch.id,
      custom_id: result.custom_id,
      event: about.event,
      case_number: about.caseNumber,
      requested_by: about.requestedBy,
      retention: about.retention,
      outcome: result.error || status >= 400 ? 'failed' : 'succeeded',
      error_code: result.error?.code ?? (status >= 400 ? `http_${status}` : null),
      total_tokens: usage?.total_tokens ?? null,
    });
    if (rows.length >= size) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length) yield rows;
}

/** Writes audit rows; a re-run rewrites the rows of the same (batch, request). */
export async function writeAuditRows(db: Sql, table: string, rows: AuditRow[]): Promise<number> {
  await db.unsafe(
    `insert into "${table}" (batch_id, custom_id, event, case_number, requested_by, retention, outcome, error_code, total_tokens)
     select * from jsonb_to_recordset($1::text::jsonb) as t(batch_id text, custom_id text, event text, case_number text,
       requested_by text, retention text, outcome text, error_code text, total_tokens integer)
     on conflict (batch_id, custom_id) do update set event = excluded.event, outcome = excluded.outcome,
       error_code = excluded.error_code, total_tokens = excluded.total_tokens, recorded_at = now()`,
    [JSON.stringify(rows)],
  );
  return rows.length;
}
