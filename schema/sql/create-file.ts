import { sql } from 'drizzle-orm';
import type { Executor } from '../db.ts';

/** Options for {@link createFile}. */
export interface CreateFileOptions {
  id: string;
  owner: string;
  purpose: string;
  filename: string;
}

/** Inserts the row of a file whose upload is starting (`uploaded`: invisible until {@link completeFile}). */
export async function createFile(db: Executor, { id, owner, purpose, filename }: CreateFileOptions): Promise<void> {
  await db.execute(
    sql`insert into files (id, owner, purpose, filename, status) values (${id}, ${owner}, ${purpose}, ${filename}, 'uploaded')`,
  );
}
