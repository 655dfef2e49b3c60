import { Hono } from 'hono';
import { createYoga } from 'graphql-yoga';
import { sql } from 'drizzle-orm';
import { routePath } from 'hono/route';
import { createMemoryBus, publishBatchPaused, publishBatchStatuses, type BatchStatusChange, type EventBus } from '../core/events/index.ts';
import { createRegistry, createMetricsEndpoint, type Registry } from '../core/metrics/index.ts';
import { toAppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { createHandlerRegistry, type HandlerRegistry } from '../handlers/sdk/index.ts';
import type { Database } from '../schema/index.ts';
import { createAuthenticator } from './auth.ts';
import { createLocalGuard, isLoopbackBind, localGuardError } from './local-guard.ts';
import { createJsonBodyLimit } from './body-limit.ts';
import { createRequestId } from './request-id.ts';
import { createBatchValidator, type BatchValidator } from './batches/batch-validator.ts';
import type { GatewayConfig } from './config.ts';
import { createDashboardRoutes } from './dashboard/routes.ts';
import type { GraphQLContext } from './graphql/context.ts';
import { createMaskError, useErrorLogging } from './graphql/mask-error.ts';
import { useQueryLimits } from './graphql/query-limits.ts';
import { databaseClientError } from './database-errors.ts';
import { createSchema } from './graphql/schema.ts';
import { useSharedSubscriptionResults } from './graphql/shared-results.ts';
import { createGraphQLWs } from './graphql/graphql-ws.ts';
import { createGatewayMetrics } from './metrics.ts';
import { createRestRoutes } from './rest/index.ts';
import { createLabelStudioWebhook } from './rest/label-studio-webhook.ts';
import type { AppDeps } from './app-deps.ts';
import { createProgressHub } from './subscriptions/progress-hub.ts';
import { createResultsHub } from './subscriptions/results-hub.ts';
import { QUEUED_LIMIT_REASON } from './quotas/queued-limit.ts';
import { createRateLimit } from './quotas/rate-limit.ts';

/** The methods HTTP metrics name; any other is counted as `OTHER`. */
const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);

/** What the gateway app is built from; everything is passed in, nothing is global. */
export interface GatewayOptions {
  config: GatewayConfig;
  database: Database;
  logger: Logger;
  /** The event bus (Redis with REDIS_URL); an in-process one when absent. */
  bus?: EventBus;
  /** The metrics registry `/metrics` renders; a fresh one when absent. */
  metrics?: Registry;
  /** Milliseconds between two `batchProgress` events of one batch (default 250). */
  progressIntervalMs?: number;
  /** Validates new batches; one of its own when absent (started sweeping by `startGateway`). */
  validator?: BatchValidator;
  /** The installed result handlers (loaded from the manifests by `startGateway`); none when absent. */
  handlers?: HandlerRegistry;
}

/** Variables of the Hono context. */
export interface GatewayEnv {
  /** `requestId` and `log` (lines with `http_request_id`) are set first, for every request. */
  Variables: { owner: string; requestId: string; log: Logger };
}

/** Creates the gateway: one Web-standard fetch handler serving REST, GraphQL, health and metrics. */
export function createApp({
  config,
  database,
  logger,
  bus = createMemoryBus(),
  metrics: registry,
  progressIntervalMs,
  validator: given,
  handlers = createHandlerRegistry([]),
}: GatewayOptions) {
  const app = new Hono<GatewayEnv>();
  registry ??= createRegistry({ onCollectError: (err) => logger.warn('metrics: a collector failed', { err }) });
  const metrics = createGatewayMetrics(registry, { database });
  const progress = createProgressHub({ database, bus, logger, metrics, ...(progressIntervalMs ? { intervalMs: progressIntervalMs } : {}) });
  const results = createResultsHub({ database, bus, logger, metrics });
  const statusChanged = (changes: BatchStatusChange[]) => {
    if (changes.length) publishBatchStatuses(bus, changes).catch((err) => logger.warn('could not publish batch status changes', { err }));
  };
  const validator =
    given ?? createBatchValidator({ database, logger, maxRequests: config.MAX_BATCH_REQUESTS, onStatusChange: statusChanged });
  const pauseChanged: AppDeps['pauseChanged'] = (change) => {
    publishBatchPaused(bus, change).catch((err) => logger.warn('could not publish a pause or resume', { err, batch_id: change.batchId }));
  };
  const deps: AppDeps = { database, logger, config, validator, statusChanged, pauseChanged, handlers };
  const resolveOwner = createAuthenticator({ apiKeys: config.apiKeys, adminKeys: config.ADMIN_API_KEYS });
  const yoga = createYoga<{ owner: string; log?: Logger }, GraphQLContext>({
    schema: createSchema({ handlers }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createMaskError(logger) },
    plugins: [
      useSharedSubscriptionResults(['batchProgress', 'batchResults']),
      useQueryLimits({ maxDepth: config.GRAPHQL_MAX_DEPTH, maxCost: config.GRAPHQL_MAX_COST }),
      useErrorLogging(),
    ],
    // Over HTTP the request's own logger (its lines carry http_request_id); over WebSocket the gateway's.
    context: async ({ owner, log }) => ({
      database,
      owner,
      admin: await resolveOwner.isAdmin(owner),
      logger: log ?? logger,
      bus,
      progress,
      results,
      metrics,
      deps,
    }),
  });

  app.onError((err, c) => {
    const { error, unexpected } = toAppError(databaseClientError(err) ?? err);
    const log = c.get('log') ?? logger;
    if (unexpected) log.error('unexpected error', { err, path: c.req.path });
    else if (error.code === 'UNAVAILABLE') log.warn('database unavailable', { err, path: c.req.path });
    // The OpenAI SDKs retry a 409 (a lock timeout, at OpenAI) twice with backoff; ours are final
    // (a batch that can no longer be cancelled), so they are told not to.
    if (error.httpStatus === 409) c.header('x-should-retry', 'false');
    // Nor is a full queue emptier a second later: their two retries of a 429 would be refused too.
    if (error.reason === QUEUED_LIMIT_REASON) c.header('x-should-retry', 'false');
    return c.json(error.toOpenAI(), error.httpStatus as 500);
  });

  // First, so that every response carries x-request-id: health, refusals and errors too.
  app.use('*', createRequestId({ logger }));

  app.use('*', async function recordHttpMetrics(c, next) {
    const stop = metrics.httpSeconds.startTimer();
    await next();
    // The route that answered (the last one dispatched to), not the last one matched: that is
    // the catch-all under /v1, or the `*` middleware, for every request.
    const route = routePath(c);
    // Some servers (Deno's) pass any token on as the method: each would be a series of its own.
    const method = HTTP_METHODS.has(c.req.method) ? c.req.method : 'OTHER';
    stop({ method, route });
    metrics.httpRequests.inc({ method, route, status: c.res.status });
  });

  const refusal = createLocalGuard({ keyless: config.apiKeys.length === 0, loopbackOnly: isLoopbackBind(config.host) });
  app.use('*', async function guardLocalGateway(c, next) {
    const reason = refusal({ host: c.req.header('host') ?? null, origin: c.req.header('origin') ?? null });
    if (reason) throw localGuardError(reason);
    await next();
  });

  app.get('/health', async (c) => {
    await database.db.execute(sql`select 1`);
    return c.json({ status: 'ok' });
  });

  // The dashboard's page and assets hold no data: served before authentication, like /health.
  app.route('/', createDashboardRoutes());

  // Before authentication: Label Studio holds no API key, it brings LABEL_STUDIO_WEBHOOK_SECRET (checked there).
  app.route('/v1/integrations/label-studio/webhook', createLabelStudioWebhook({ ...deps, bus }));

  app.use('*', async function setOwner(c, next) {
    c.set('owner', await resolveOwner(c.req.header('authorization') ?? null));
    await next();
  });

  // Each API request takes a token of its owner's bucket (setOwnerLimits, else API_REQUESTS_PER_MINUTE).
  const rateLimit = { db: database.db, defaultRequestsPerMinute: config.API_REQUESTS_PER_MINUTE };
  app.use('/v1/*', createRateLimit({ ...rateLimit, refused: (error) => Response.json(error.toOpenAI(), { status: error.httpStatus }) }));
  app.use(
    '/graphql',
    createRateLimit({
      ...rateLimit,
      refused: (error) =>
        Response.json({ errors: [{ message: error.message, extensions: { code: error.code } }] }, { status: error.httpStatus }),
    }),
  );

  // JSON bodies are read whole: bound them. Only the upload streams its body, bounded by MAX_FILE_BYTES as it is stored.
  const restBodyLimit = createJsonBodyLimit({
    maxBytes: config.MAX_JSON_BODY_BYTES,
    tooLarge: (error) => Response.json(error.toOpenAI(), { status: error.httpStatus }),
  });
  app.use('/v1/*', async function boundRestBodies(c, next) {
    return c.req.method === 'POST' && c.req.path === '/v1/files' ? next() : restBodyLimit(c, next);
  });
  // A GraphQL upload is read whole by Yoga before a resolver sees it: bound it to a file and an operation.
  const graphqlMultipartMaxBytes = config.MAX_FILE_BYTES + config.MAX_JSON_BODY_BYTES;
  app.use(
    '/graphql',
    createJsonBodyLimit({
      maxBytes: config.MAX_JSON_BODY_BYTES,
      multipartMaxBytes: graphqlMultipartMaxBytes,
      tooLarge: (error) =>
        Response.json({ errors: [{ message: error.message, extensions: { code: error.code } }] }, { status: error.httpStatus }),
    }),
  );

  const serveMetrics = createMetricsEndpoint(registry);
  app.get('/metrics', () => serveMetrics());

  app.route('/v1', createRestRoutes(deps));

  // handleRequest, not fetch: Yoga's fetch gives up on a request whose client left before the
  // response, dropping the response and with it a subscription that nothing would ever end.
  // Handed back, the response is cancelled by the server, and the subscription ends.
  app.on(['GET', 'POST', 'OPTIONS'], '/graphql', (c) => yoga.handleRequest(c.req.raw, { owner: c.get('owner'), log: c.get('log') }));

  const graphqlWs = createGraphQLWs({ yoga, authenticate: resolveOwner, refusal, metrics, logger });
  // The runtime entries serve `graphqlWs` on `/graphql` next to `fetch`; `close` ends the subscriptions.
  return Object.assign(app, {
    graphqlWs,
    validator,
    async close() {
      await validator.close();
      await progress.close();
      await results.close();
    },
  });
}
