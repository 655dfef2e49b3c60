import { pgTable, real, text } from 'drizzle-orm/pg-core';
import { at } from './columns.ts';

/** Fair-share weights set by administrators; an owner without a row weighs 1. */
export const ownerWeights = pgTable('owner_weights', {
  owner: text('owner').primaryKey(),
  weight: real('weight').notNull(),
  updatedAt: at('updated_at').notNull().defaultNow(),
});
