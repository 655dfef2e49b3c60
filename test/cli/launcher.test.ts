import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listenLocal } from '../helpers/http.ts';
import { ROOT } from '../helpers/processes.ts';

// A real HTTP server whose progress stream never ends, for a `vbs watch` that is stopped from outside.
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(
    `event: next\ndata: ${JSON.stringify({ data: { batchProgress: { batchId: 'batch_long', status: 'in_progress', total: 9, completed: 1, failed: 0, remaining: 8, tokensPerSecond: 1, requestsPerSecond: 1, estimatedSecondsLeft: 60, final: false } } })}\n\n`,
  );
});
let url = '';
beforeAll(async () => {
  url = await listenLocal(server);
});
afterAll(() => closeServer(server));

describe('npx vbs (cli/vbs.mjs)', () => {
  it('exits 128 + the signal when vbs is killed by one, not the 130 that means Ctrl-C', async () => {
    const child = spawn('node', ['cli/vbs.mjs', 'watch', 'batch_long'], {
      cwd: ROOT,
      env: { ...process.env, VBS_URL: url, VBS_API_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
  });
});
