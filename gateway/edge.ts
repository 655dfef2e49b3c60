import { ConfigError } from '../core/env.ts';
import { VALIDATION_SWEEP_MS } from './batches/batch-validator.ts';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { startGateway, type Gateway } from './start.ts';

/** The per-request context some platforms pass third (Cloudflare's `ExecutionContext`). */
export interface EdgeContext {
  /** Keeps the isolate alive for work that outlives the response. */
  waitUntil(promise: Promise<unknown>): void;
}

/** A Web-standard module handler: what `deno serve`, Deno Deploy, Bun and Cloudflare Workers call. */
export interface EdgeHandler {
  fetch(request: Request, env?: unknown, context?: unknown): Promise<Response>;
  /** Closes what the first request opened, where the host can end an isolate (tests, a Node server). */
  close(): Promise<void>;
}

/** Options for {@link createEdgeHandler}. */
export interface EdgeHandlerOptions {
  /** The configuration, from the platform's second `fetch` argument (Cloudflare's bindings) or the environment (default). */
  config?: (env: unknown) => GatewayConfig;
  /** Applies pending migrations when the isolate starts (default false: run `npm run migrate` when deploying). */
  migrate?: boolean;
}

const MISCONFIGURED = {
  error: {
    message: 'The gateway is misconfigured; its log names the variables to fix.',
    type: 'server_error',
    param: null,
    code: 'misconfigured',
  },
};

function hasWaitUntil(context: unknown): context is EdgeContext {
  return typeof (context as EdgeContext | undefined)?.waitUntil === 'function';
}

function edgeConfig(config: GatewayConfig): GatewayConfig {
  if (!config.DATABASE_URL) {
    throw new ConfigError([
      { variable: 'DATABASE_URL', expected: 'a postgres:// URL; an edge gateway has no disk for the embedded database' },
    ]);
  }
  return config;
}

/**
 * The gateway as one `fetch` function for edge platforms. Nothing happens at import: the first
 * request reads the configuration and opens the database (postgres.js over TCP) and the event
 * bus, and later requests of the isolate share them. There is no timer: abandoned validations
 * are swept on a request at most every {@link VALIDATION_SWEEP_MS}, and background validation
 * is handed to the platform's `waitUntil` where there is one. WebSocket subscriptions need the
 * runtime's own upgrade (gateway/entry/deno.ts); SSE subscriptions work through `fetch`.
 */
export function createEdgeHandler({ config = () => loadGatewayConfig(), migrate = false }: EdgeHandlerOptions = {}): EdgeHandler {
  let started: Promise<Gateway> | undefined;
  let lastSweep = 0;
  const start = (env: unknown) => {
    started ??= (async () => startGateway(edgeConfig(config(env)), { migrate, sweep: false }))().catch((error: unknown) => {
      // The next request tries again: a database that was briefly unreachable must not poison the isolate.
      started = undefined;
      throw error;
    });
    return started;
  };
  return {
    async fetch(request, env, context) {
      let gateway: Gateway;
      try {
        gateway = await start(env);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(error.message);
        return Response.json(MISCONFIGURED, { status: 500 });
      }
      const background: Promise<unknown>[] = [];
      if (Date.now() - lastSweep >= VALIDATION_SWEEP_MS) {
        lastSweep = Date.now();
        background.push(gateway.validator.sweep().catch((err) => gateway.logger.error('validation sweep failed', { err })));
      }
      const response = await gateway.fetch(request);
      background.push(gateway.validator.idle());
      if (hasWaitUntil(context)) context.waitUntil(Promise.all(background));
      return response;
    },
    async close() {
      const gateway = await started?.catch(() => undefined);
      started = undefined;
      await gateway?.close();
    },
  };
}

/** The gateway configured from the environment, as a module default export: `deno serve gateway/edge.ts`. */
export default createEdgeHandler();
