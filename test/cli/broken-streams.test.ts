import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { FIXTURES, vbs } from './harness.ts';

// A real HTTP server standing in for a gateway that dies in the middle of an answer (a
// restart, a crash): the connection is cut without the end of the chunked body.
type Route = (req: IncomingMessage, res: ServerResponse, count: number) => void;
let route: Route = (_req, res) => res.end();
let requests = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => route(req, res, ++requests));
});
let url = '';
const dir = mkdtempSync(join(tmpdir(), 'vbs-cli-broken-'));

beforeAll(async () => {
  url = await listenLocal(server);
});
afterAll(async () => {
  await closeServer(server);
  rmSync(dir, { recursive: true, force: true });
});

const progress = (status: string, done: number, final: boolean) =>
  `event: next\ndata: ${JSON.stringify({ data: { batchProgress: { batchId: 'batch_cut', status, total: 4, completed: done, failed: 0, remaining: 4 - done, tokensPerSecond: 10, requestsPerSecond: 1, estimatedSecondsLeft: 2, final } } })}\n\n`;

const batch = {
  id: 'batch_cut',
  object: 'batch',
  status: 'completed',
  output_file_id: 'file-out',
  error_file_id: null,
  request_counts: { total: 4, completed: 4, failed: 0 },
};

describe('vbs when the gateway cuts a response short', () => {
  it('reconnects when the progress stream breaks after it started, and ends with the batch', async () => {
    requests = 0;
    route = (req, res, n) => {
      if (req.url?.startsWith('/v1/batches/'))
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1) {
        res.write(progress('in_progress', 1, false));
        // The gateway process dies: the connection closes in the middle of the stream.
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      res.end(`${progress('completed', 4, true)}event: complete\ndata:\n\n`);
    };
    const result = await vbs(['watch', 'batch_cut'], { fetch, env: { VBS_URL: url } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(EXIT.OK);
    expect(result.stdout).toContain('batch_cut completed 4/4  100%');
  });

  it('exits 3 when a download is cut off, and leaves no file behind', async () => {
    route = (req, res) => {
      if (req.url === '/v1/batches/batch_cut')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('{"custom_id":"a"}\n'.repeat(1000));
      setTimeout(() => res.socket?.destroy(), 50);
    };
    const out = join(dir, 'download');
    const result = await vbs(['download', 'batch_cut', '-o', out], { fetch, env: { VBS_URL: url } });
    expect(result.code, result.stderr).toBe(EXIT.UNAVAILABLE);
    expect(result.stderr).not.toContain('unexpected error');
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('stops a download on Ctrl-C with exit 130, leaving no file behind', async () => {
    const interrupt = new AbortController();
    route = (req, res) => {
      if (req.url === '/v1/batches/batch_cut')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Half the file, then a slow gateway; the person presses Ctrl-C meanwhile.
      res.write('{"custom_id":"a"}\n'.repeat(1000));
      setTimeout(() => interrupt.abort(), 50);
    };
    const out = join(dir, 'interrupted');
    const result = await vbs(['download', 'batch_cut', '-o', out], { fetch, env: { VBS_URL: url }, signal: interrupt.signal });
    expect(result.code, result.stderr).toBe(EXIT.INTERRUPTED);
    expect(result.stderr).not.toContain('unexpected error');
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('stops an upload on Ctrl-C with exit 130, creating no batch', async () => {
    const interrupt = new AbortController();
    const paths: string[] = [];
    route = (req, res) => {
      paths.push(`${req.method} ${req.url}`);
      if (req.url === '/v1/files') {
        // A slow upload; the person presses Ctrl-C before it ends.
        interrupt.abort();
        return void setTimeout(
          () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'file-1', bytes: 10 })),
          300,
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...batch, status: 'validating' }));
    };
    const result = await vbs(['submit', join(FIXTURES, 'chat-100.jsonl')], { fetch, env: { VBS_URL: url }, signal: interrupt.signal });
    expect(result.code, result.stderr).toBe(EXIT.INTERRUPTED);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(paths).toEqual(['POST /v1/files']);
  });

  it('reconnects when the progress stream goes silent (not even a keep-alive), instead of waiting forever', async () => {
    requests = 0;
    route = (req, res, n) => {
      if (req.url?.startsWith('/v1/batches/'))
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(batch));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The first connection is half-open: the gateway's host is gone, and nothing more arrives.
      if (n === 1) return void res.write(progress('in_progress', 1, false));
      res.end(`${progress('completed', 4, true)}event: complete\ndata:\n\n`);
    };
    const run = vbs(['watch', 'batch_cut'], { fetch, env: { VBS_URL: url }, idleTimeoutMs: 300 });
    const result = await Promise.race([
      run,
      new Promise<'still watching'>((resolve) => setTimeout(() => resolve('still watching'), 10_000)),
    ]);
    expect(result).toMatchObject({ code: EXIT.OK, stderr: '' });
  });
});
