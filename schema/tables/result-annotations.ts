import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, jsonb, pgSequence, pgTable, primaryKey, smallint, text } from 'drizzle-orm/pg-core';
import { ANNOTATION_SOURCES, type AnnotationSource } from '../states/annotation-source.ts';
import { sqlList } from '../states/sql-list.ts';
import { at } from './columns.ts';

/**
 * Orders annotation changes: each change takes the next value, which becomes its handler runs'
 * `annotation_seq`, so that runs for one result are carried out in the order of the changes.
 */
export const annotationSeq = pgSequence('result_annotation_seq');

/**
 * A reviewer's judgement of one result: at most one row per (batch, line), changed in place.
 * A cleared annotation keeps its row with every field null, so that its last change (who,
 * where from, when) is still known.
 */
export const resultAnnotations = pgTable(
  'result_annotations',
  {
    batchId: text('batch_id').notNull(),
    line: integer('line').notNull(),
    customId: text('custom_id').notNull(),
    gold: boolean('gold'),
    /** 1 to 5. */
    rating: smallint('rating'),
    /** The answer as it should have been: exports use it instead of the model's. */
    correction: text('correction'),
    labels: jsonb('labels').$type<string[]>(),
    note: text('note'),
    /** The API key's owner, or the Label Studio user (their email, else `label-studio:<id>`). */
    annotator: text('annotator').notNull(),
    /** One of ANNOTATION_SOURCES. */
    source: text('source').$type<AnnotationSource>().notNull(),
    /** The value of result_annotation_seq taken by the last change. */
    seq: bigint('seq', { mode: 'number' }).notNull(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'result_annotations_pkey', columns: [t.batchId, t.line] }),
    check('result_annotations_rating_check', sql`rating between 1 and 5`),
    check('result_annotations_source_check', sql`source in ${sqlList(ANNOTATION_SOURCES)}`),
  ],
);

/**
 * Metadata handlers attach to results (`context.setResultMetadata`): one JSON object per
 * (batch, line), merged key by key, which later handlers, `Batch.results` and exports see.
 */
export const resultMetadata = pgTable(
  'result_metadata',
  {
    batchId: text('batch_id').notNull(),
    line: integer('line').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'result_metadata_pkey', columns: [t.batchId, t.line] }),
    // Label Studio's ANNOTATIONS_DELETED names only annotation ids: the webhook finds their results by this link.
    index('result_metadata_label_studio_idx')
      .on(sql`(${t.metadata} -> 'labelStudio' -> 'annotationId')`)
      .where(sql`${t.metadata} ? 'labelStudio'`),
  ],
);
