// Declared here so `tsc` (which knows Node and Bun) checks the Deno branch; at run time it is Deno's global.
declare const Deno: {
  serve(
    options: { port: number; hostname: string; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): {
    addr: { port: number };
    shutdown(): Promise<void>;
  };
};

/** A fetch handler served on a port by the runtime's own HTTP server. */
export interface FetchServer {
  port: number;
  /** Stops listening and drops open connections. */
  stop(): Promise<void>;
}

/**
 * Serves a fetch handler with the server of the runtime the process runs on (`Bun.serve`,
 * `Deno.serve`), so one worker entry runs on both. Port 0 picks a free port.
 */
export function serveFetch({
  port,
  hostname,
  fetch,
}: {
  port: number;
  hostname: string;
  fetch: (request: Request) => Response | Promise<Response>;
}): FetchServer {
  if (typeof Bun !== 'undefined') {
    const server = Bun.serve({ port, hostname, fetch });
    return { port: server.port ?? port, stop: () => server.stop(true) };
  }
  if (typeof Deno !== 'undefined') {
    const server = Deno.serve({ port, hostname, onListen: () => {} }, fetch);
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  throw new Error('serveFetch runs on Bun or Deno; on Node, serve the handler with @hono/node-server.');
}
