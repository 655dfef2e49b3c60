import type { Sql } from 'postgres';

/** A starred result as the private table keeps it. */
export interface GoldRow {
  batch_id: string;
  custom_id: string;
  collection: string;
  model: string | null;
  /** The request's messages (chat) or prompt (completions). */
  prompt: unknown;
  answer: string | null;
  correction: string | null;
  rating: number | null;
  labels: string[] | null;
  note: string | null;
  annotator: string;
  metadata: Record<string, unknown> | null;
  /** ISO 8601: when the change was made. */
  annotated_at: string;
}

/**
 * Creates the table of starred results and its ledger when they do not exist. The ledger
 * keeps, per result, the last change applied (its sequence number) after the row itself is
 * gone, so that an older change run late (a dead run retried) cannot bring back a star
 * taken away since.
 */
export async function createGoldTables(db: Sql, table: string): Promise<void> {
  await db.unsafe(`create table if not exists "${table}" (
    batch_id text not null, custom_id text not null, collection text not null, model text, prompt jsonb,
    answer text, correction text, rating smallint, labels jsonb, note text, annotator text not null,
    metadata jsonb, annotated_at timestamptz not null, synced_at timestamptz not null default now(),
    primary key (batch_id, custom_id))`);
  await db.unsafe(`create table if not exists "${table}_changes" (
    batch_id text not null, custom_id text not null, seq bigint not null, primary key (batch_id, custom_id))`);
}

/** What {@link applyChange} did. */
export type ChangeOutcome = 'starred' | 'unstarred' | 'stale';

/**
 * Applies one annotation change in one transaction: the result's row is written (`row`) or
 * removed (null), unless a newer change (higher `seq`) was applied before. Applying the
 * same change again leaves the same state.
 */
export async function applyChange(
  db: Sql,
  table: string,
  seq: number,
  key: { batch_id: string; custom_id: string },
  row: GoldRow | null,
): Promise<ChangeOutcome> {
  return db.begin(async (tx) => {
    // The ledger's row lock orders two changes of the same result applied at once.
    const [current] = await tx.unsafe(
      `insert into "${table}_changes" as c (batch_id, custom_id, seq) values ($1, $2, $3)
       on conflict (batch_id, custom_id) do update set seq = excluded.seq where c.seq <= excluded.seq
       returning seq`,
      [key.batch_id, key.custom_id, seq],
    );
    if (!current) return 'stale';
    if (!row) {
      await tx.unsafe(`delete from "${table}" where batch_id = $1 and custom_id = $2`, [key.batch_id, key.custom_id]);
      return 'unstarred';
    }
    await tx.unsafe(
      `insert into "${table}" (batch_id, custom_id, collection, model, prompt, answer, correction, rating, labels, note, annotator, metadata, annotated_at)
       select * from jsonb_to_record($1::text::jsonb) as t(batch_id text, custom_id text, collection text, model text, prompt jsonb,
         answer text, correction text, rating smallint, labels jsonb, note text, annotator text, metadata jsonb, annotated_at timestamptz)
       on conflict (batch_id, custom_id) do update set collection = excluded.collection, model = excluded.model, prompt = excluded.prompt,
         answer = excluded.answer, correction = excluded.correction, rating = excluded.rating, labels = excluded.labels, note = excluded.note,
         annotator = excluded.annotator, metadata = excluded.metadata, annotated_at = excluded.annotated_at, synced_at = now()`,
      [JSON.stringify(row)],
    );
    return 'starred';
  });
}
