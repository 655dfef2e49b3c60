import postgres from 'postgres';
import { createTestDatabase, dropTestDatabase } from '../../helpers/database.ts';
import type { HandlerHarness } from './harness.ts';

/** A real Postgres database created for the test holds one row per result. */
export const postgresInsertHarness: HandlerHarness = {
  name: 'postgresInsert',
  invalid: [
    { options: { table: 'results; drop table x' }, problem: 'handlers.postgresInsert.table: expected a table name' },
    { options: { url: 'mysql://localhost/db' }, problem: 'handlers.postgresInsert.url: expected a Postgres connection URL' },
    { options: { onConflict: 'replace' }, problem: 'handlers.postgresInsert.onConflict' },
    { options: { chunkSize: 100_000 }, problem: 'handlers.postgresInsert.chunkSize' },
  ],
  async start() {
    const target = await createTestDatabase();
    const db = postgres(target.url, { max: 1, onnotice: () => {} });
    // A statement-level trigger fails the insert whose number is in fail_plan; nextval is
    // not rolled back with the failed statement, so the count stays right.
    await db.unsafe(`
      create table contract_results (batch_id text not null, custom_id text not null, request_id text not null,
        status_code integer, response jsonb, error jsonb, written_at timestamptz not null default now(), primary key (batch_id, custom_id));
      create sequence insert_seq;
      create table fail_plan (at bigint);
      create function maybe_fail() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from fail_plan where at = nextval('insert_seq')) then
          raise exception 'injected serialization failure' using errcode = '40001';
        end if;
        return null;
      end $$;
      create trigger maybe_fail before insert on contract_results for each statement execute function maybe_fail();`);
    const count = async (batchId: string) =>
      (await db`select count(*)::int as n from contract_results where batch_id = ${batchId}`)[0]!.n as number;
    return {
      options: { table: 'contract_results', createTable: true, chunkSize: 250 },
      deployment: { url: target.url },
      count,
      expected: (n) => n,
      // The primary key makes a duplicate impossible; the count of rows is what a re-run could inflate.
      duplicates: async () => 0,
      async failAfter(okFirst) {
        await db`insert into fail_plan (at) select coalesce((select last_value + (case when is_called then 1 else 0 end) from insert_seq), 1) + ${okFirst}`;
      },
      async close() {
        await db.end();
        await dropTestDatabase(target);
      },
    };
  },
};
