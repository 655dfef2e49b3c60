import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Logger } from '../../core/logger.ts';
import type { RequestOrigin } from '../local-guard.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { GraphQLContext } from './context.ts';

/** The headers of the upgrade request a connection is checked by: its key, and the local guard's host and origin. */
export const UPGRADE_HEADERS = ['authorization', 'host', 'origin'] as const;

/** Those headers, as a runtime that does not keep the upgrade request puts them on the socket (Bun). */
export type UpgradeHeaders = Record<(typeof UPGRADE_HEADERS)[number], string | null>;

/** Reads {@link UPGRADE_HEADERS} off an upgrade request. */
export const upgradeHeaders = (headers: Headers) =>
  Object.fromEntries(UPGRADE_HEADERS.map((name) => [name, headers.get(name)])) as UpgradeHeaders;

/** What each runtime's entry may put on a connection: the upgrade request (ws) or the socket data it chose (Bun, Deno). */
export interface WebSocketExtra {
  request?: { headers?: Headers | Record<string, string | string[] | undefined> };
  socket?: { data?: Partial<UpgradeHeaders> };
}

/** Options for {@link createGraphQLWs}. */
export interface GraphQLWsOptions {
  yoga: YogaServerInstance<{ owner: string }, GraphQLContext>;
  /** The same check as HTTP requests: the owner of an `Authorization` value, or a throw when it is not accepted. */
  authenticate: (authorization: string | null) => string | Promise<string>;
  /** The same guard as HTTP requests against web pages of other origins (see local-guard.ts); null lets the upgrade through. */
  refusal?: (request: RequestOrigin) => string | null;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** graphql-ws server options, for each runtime's adapter (`graphql-ws/use/bun`, `graphql-ws/use/ws`, ...). */
export type GraphQLWsServer = ServerOptions<Record<string, unknown> | undefined, WebSocketExtra>;

type Enveloped = ReturnType<GraphQLWsOptions['yoga']['getEnveloped']>;
type RootValue = { execute: Enveloped['execute']; subscribe: Enveloped['subscribe'] };

function upgradeHeader(extra: WebSocketExtra, name: keyof UpgradeHeaders): string | null {
  const headers = extra.request?.headers;
  if (headers && typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  const value = (headers as Record<string, string | string[] | undefined> | undefined)?.[name];
  if (value !== undefined) return Array.isArray(value) ? (value[0] ?? null) : value;
  return extra.socket?.data?.[name] ?? null;
}

function paramAuthorization(params: Record<string, unknown> | undefined): string | null {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : null;
}

/**
 * The `graphql-ws` protocol on `/graphql`, executed by the same Yoga instance as HTTP (its
 * plugins, error masking and context). The caller authenticates once per connection, with
 * `connectionParams: { authorization: 'Bearer KEY' }` (what browsers can send) or the
 * upgrade request's `Authorization` header; a refused key closes the socket with 4403.
 */
export function createGraphQLWs({ yoga, authenticate, refusal = () => null, metrics, logger }: GraphQLWsOptions): GraphQLWsServer {
  const owners = new WeakMap<object, string>();
  return {
    async onConnect(ctx) {
      const refused = refusal({ host: upgradeHeader(ctx.extra, 'host'), origin: upgradeHeader(ctx.extra, 'origin') });
      if (refused) {
        logger.warn('refused a WebSocket from a page of another origin', { reason: refused });
        return false;
      }
      try {
        const owner = await authenticate(paramAuthorization(ctx.connectionParams) ?? upgradeHeader(ctx.extra, 'authorization'));
        owners.set(ctx, owner);
        metrics.websockets.inc();
        return true;
      } catch {
        return false;
      }
    },
    onDisconnect() {
      metrics.websockets.dec();
    },
    async onSubscribe(ctx, _id, payload) {
      const owner = owners.get(ctx);
      if (owner === undefined) return [new GraphQLError('Not authenticated; send connectionParams.authorization.')];
      const enveloped = yoga.getEnveloped({ owner, params: payload });
      let document: ReturnType<typeof enveloped.parse>;
      try {
        document = enveloped.parse(payload.query);
      } catch (err) {
        return [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return errors;
      const root: RootValue = { execute: enveloped.execute, subscribe: enveloped.subscribe };
      const args: ExecutionArgs = {
        schema: enveloped.schema,
        document,
        operationName: payload.operationName ?? null,
        variableValues: payload.variables ?? null,
        contextValue: await enveloped.contextFactory(),
        rootValue: root,
      };
      return args;
    },
    execute: (args) => (args.rootValue as RootValue).execute(args),
    subscribe: (args) => (args.rootValue as RootValue).subscribe(args),
    onError(_ctx, _id, _payload, errors) {
      logger.debug('graphql-ws operation failed', { errors: errors.map((e) => e.message) });
    },
  };
}
