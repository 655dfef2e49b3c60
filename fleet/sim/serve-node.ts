import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Simulator } from './simulator.ts';

/** A simulator on node:http (Node, Bun and Deno all have it), where the connection's fate is in reach. */
export interface NodeServedSimulator {
  port: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Options for {@link serveOverNodeHttp}. */
export interface ServeOverNodeHttpOptions {
  simulator: Simulator;
  port: number;
  hostname: string;
  /** The Keep-Alive header every response advertises (cpp-httplib: "timeout=5, max=5"). */
  keepAlive?: string;
  /** How long a connection the server has given up on stays open unused before it is closed. */
  lingerMs?: number;
}

const toRequest = async (req: IncomingMessage, signal: AbortSignal): Promise<Request> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers))
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : Buffer.concat(chunks);
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, { method: req.method, headers, body, signal });
};

const write = (res: ServerResponse, chunk: Uint8Array) =>
  res.write(chunk) ? Promise.resolve() : new Promise<void>((resolve) => res.once('drain', resolve));

/**
 * Serves a simulator whose engine drops connections it advertised as kept alive (llama-server
 * after a stream): headers go out only when the simulator's Response exists (so a request queued
 * in the engine gets none), and after a response the simulator says closes the connection, the
 * next request sent on that connection is reset before any byte of answer (ECONNRESET, as a
 * pooled socket meets a server that closed it), while an unused one is closed after `lingerMs`.
 */
export function serveOverNodeHttp({
  simulator,
  port,
  hostname,
  keepAlive,
  lingerMs = 1000,
}: ServeOverNodeHttpOptions): Promise<NodeServedSimulator> {
  const dropped = new WeakSet<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (dropped.has(socket)) {
      socket.resetAndDestroy();
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const response = await simulator.fetch(await toRequest(req, abort.signal));
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (keepAlive) headers['keep-alive'] = keepAlive;
    const streamed = (headers['content-type'] ?? '').startsWith('text/event-stream');
    if (!streamed || !response.body) {
      const body = new Uint8Array(await response.arrayBuffer());
      res.writeHead(response.status, { ...headers, 'content-length': String(body.length) });
      res.end(body);
    } else {
      res.writeHead(response.status, headers);
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) await write(res, chunk);
      } catch {
        socket.destroy();
        return;
      }
      res.end();
    }
    if (simulator.closesConnection(response)) {
      dropped.add(socket);
      setTimeout(() => socket.destroy(), lingerMs).unref?.();
    }
  };
  return new Promise((resolve) => {
    server.listen(port, hostname, () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
