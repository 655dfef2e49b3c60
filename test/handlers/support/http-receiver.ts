import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { listenLocal } from '../../helpers/http.ts';

/** A request as the receiver got it: the exact body bytes and the headers. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What the receiver answers: a status and a JSON body, or a closed connection. */
export type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang-up';

/** A real HTTP server started by a test: records every request and answers with `reply`. */
export interface HttpReceiver {
  url: string;
  received: Received[];
  /** Decides each answer; the default answers 200 `{}`. */
  reply: (request: Received, index: number) => Reply | Promise<Reply>;
  close(): Promise<void>;
}

/** Starts an HTTP server on a free loopback port. */
export async function startReceiver(): Promise<HttpReceiver> {
  const receiver: HttpReceiver = {
    url: '',
    received: [],
    reply: () => ({ status: 200, body: {} }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const index = receiver.received.push(request) - 1;
      const reply = await receiver.reply(request, index);
      if (reply === 'hang-up') return void req.socket.destroy();
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.body ?? {}));
    });
  });
  server.keepAliveTimeout = 1;
  receiver.url = await listenLocal(server);
  return receiver;
}
