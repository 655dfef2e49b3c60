import { sql } from 'drizzle-orm';

/** A model of the registry; times in milliseconds since the epoch. */
export interface ModelRow {
  name: string;
  source: string;
  engineArgs: string[];
  maxConcurrency: number | null;
  enabled: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

/** The columns of {@link ModelRow}; `engineArgs` comes as JSON text, parsed by {@link toModelRow}. */
export const MODEL_COLUMNS = sql`name, source, engine_args::text as "engineArgs", max_concurrency as "maxConcurrency", enabled,
  (extract(epoch from created_at) * 1000)::float8 as "createdAtMs", (extract(epoch from updated_at) * 1000)::float8 as "updatedAtMs"`;

/** Parses the JSON column of a row selected with {@link MODEL_COLUMNS}. */
export function toModelRow(raw: Omit<ModelRow, 'engineArgs'> & { engineArgs: string }): ModelRow {
  return { ...raw, engineArgs: JSON.parse(raw.engineArgs) as string[] };
}
