import { Hono } from 'hono';
import { createYoga } from 'graphql-yoga';
import { sql } from 'drizzle-orm';
import { toAppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Database } from '../schema/index.ts';
import type { GatewayConfig } from './config.ts';
import type { GraphQLContext } from './graphql/context.ts';
import { createSchema } from './graphql/schema.ts';

/** What the gateway app is built from; everything is passed in, nothing is global. */
export interface GatewayOptions {
  config: GatewayConfig;
  database: Database;
  logger: Logger;
}

/** Variables of the Hono context. */
export interface GatewayEnv {
  Variables: { owner: string };
}

/** Creates the gateway: one Web-standard fetch handler serving REST, GraphQL, health and metrics. */
export function createApp({ database, logger }: GatewayOptions) {
  const app = new Hono<GatewayEnv>();
  const yoga = createYoga<{ owner: string }, GraphQLContext>({
    schema: createSchema(),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    context: ({ owner }) => ({ database, owner, logger }),
  });

  app.onError((err, c) => {
    const { error, unexpected } = toAppError(err);
    if (unexpected) logger.error('unexpected error', { err, path: c.req.path });
    return c.json(error.toOpenAI(), error.httpStatus as 500);
  });

  app.get('/health', async (c) => {
    await database.db.execute(sql`select 1`);
    return c.json({ status: 'ok' });
  });

  app.use('*', async function setOwner(c, next) {
    c.set('owner', 'local');
    await next();
  });

  app.on(['GET', 'POST', 'OPTIONS'], '/graphql', (c) => yoga.fetch(c.req.raw, { owner: c.get('owner') }));

  return app;
}
