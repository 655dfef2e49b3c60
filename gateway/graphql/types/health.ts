import { sql } from 'drizzle-orm';
import type { Builder } from '../builder.ts';

/** Adds `Query.health`. */
export function defineHealth(builder: Builder): void {
  builder.queryField('health', (t) =>
    t.string({
      description: 'Always "ok" when the gateway and its database answer.',
      resolve: async (_root, _args, { database }) => {
        await database.db.execute(sql`select 1`);
        return 'ok';
      },
    }),
  );
}
