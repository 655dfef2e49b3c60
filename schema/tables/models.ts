import { boolean, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/** The model registry: what the fleet may serve, and how to start it. */
export const models = pgTable('models', {
  name: text('name').primaryKey(),
  /** Where the weights come from: a Hugging Face repository or a local path. */
  source: text('source').notNull(),
  engineArgs: jsonb('engine_args').$type<string[]>().notNull().default([]),
  maxConcurrency: integer('max_concurrency'),
  enabled: boolean('enabled').notNull().default(true),
  createdAt: at('created_at').notNull().defaultNow(),
  updatedAt: at('updated_at').notNull().defaultNow(),
});
