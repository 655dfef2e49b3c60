import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at, bytea } from './columns.ts';

/**
 * Uploaded inputs (`purpose = batch`) and produced outputs (`batch_output` for the output
 * file, `batch_error` for the error file; the API shows both as OpenAI's `batch_output`).
 * Output files hold no chunks: their content is streamed from `requests` on download.
 */
export const files = pgTable(
  'files',
  {
    id: text('id').primaryKey(),
    /** Creation order, strictly increasing (timestamps can tie): lists and cursors follow it. */
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    owner: text('owner').notNull(),
    purpose: text('purpose').notNull(),
    filename: text('filename').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
    lines: integer('lines'),
    batchId: text('batch_id'),
    /**
     * `uploaded` while an upload is still streaming in (invisible to the API), then `processed`;
     * `deleted` or `expired` once gone (the row stays as a list cursor, its bytes do not).
     */
    status: text('status').notNull().default('processed'),
    createdAt: at('created_at').notNull().defaultNow(),
    /** When the file stops being served and the sweeper removes its bytes; null = kept until deleted. */
    expiresAt: at('expires_at'),
  },
  (t) => [
    index('files_owner_seq_idx').on(t.owner, t.seq),
    index('files_expires_at_idx').on(t.expiresAt).where(sql`status = 'processed' and expires_at is not null`),
  ],
);

/** The bytes of an uploaded file, in order, in chunks of 256 KiB. */
export const fileChunks = pgTable(
  'file_chunks',
  {
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.fileId, t.seq] })],
);
