import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

describe('a gateway without API keys, against web pages', () => {
  const test = useTestDatabase();
  const app = (env: Record<string, string> = {}) =>
    createApp({ config: loadGatewayConfig(env), database: test().database, logger: createLogger({ level: 'silent' }) });

  it('refuses a request whose Host does not name this machine (DNS rebinding)', async () => {
    const res = await app().request('/v1/batches', { headers: { host: 'evil.example:8080' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'cross_origin_refused', message: expect.stringContaining('Host evil.example:8080') },
    });
  });

  it('refuses a cross-site POST from a web page (CSRF), and serves the same page of its own origin', async () => {
    const body = JSON.stringify({ input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '24h' });
    const forged = await app().request('/v1/batches', {
      method: 'POST',
      headers: { host: '127.0.0.1:8080', origin: 'http://evil.example', 'content-type': 'text/plain' },
      body,
    });
    expect(forged.status).toBe(403);
    const upload = new FormData();
    upload.append('purpose', 'batch');
    upload.append('file', new Blob(['{}\n']), 'x.jsonl');
    expect(
      (await app().request('/v1/files', { method: 'POST', headers: { host: 'localhost:8080', origin: 'null' }, body: upload })).status,
    ).toBe(403);
    const own = await app().request('/v1/batches', { headers: { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' } });
    expect(own.status).toBe(200);
    expect((await app().request('/v1/batches', { headers: { host: 'localhost:8080' } })).status).toBe(200);
  });

  it('leaves requests to the API keys once there are keys', async () => {
    const res = await app({ API_KEYS: 'k1' }).request('/v1/batches', {
      headers: { host: 'batches.example.com', origin: 'http://app.example.com', authorization: 'Bearer k1' },
    });
    expect(res.status).toBe(200);
  });

  describe('over WebSocket, on a Bun gateway', () => {
    let gateway: Running;
    let url = '';
    beforeAll(async () => {
      gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { PORT: '0', DATABASE_URL: test().url, LOG_LEVEL: 'info', API_KEYS: '' } });
      [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/, 30_000)) as unknown as [string, string];
    });
    afterAll(() => gateway?.stop());

    const closeCode = (origin?: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', origin ? { origin } : {});
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
        socket.on('message', (data) => {
          if (JSON.parse(String(data)).type === 'connection_ack') socket.close(1000);
        });
        socket.on('close', (code) => resolve(code));
        socket.on('error', reject);
      });

    it('closes a socket opened by a page of another origin before it may subscribe', async () => {
      expect(await closeCode('http://evil.example')).toBe(4403);
      expect(await closeCode(url)).toBe(1000);
      expect(await closeCode()).toBe(1000);
    });
  });
});
