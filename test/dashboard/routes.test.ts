import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { createDashboardRoutes } from '../../gateway/dashboard/routes.ts';
import { createPgliteDatabase } from '../helpers/database.ts';

describe('the dashboard routes', () => {
  const dist = mkdtempSync(join(tmpdir(), 'vbs-dashboard-'));
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  it('serves the page and its assets with a same-origin content security policy', async () => {
    writeFileSync(join(dist, 'app.js'), 'console.log("built");\n');
    const app = new Hono().route('/', createDashboardRoutes({ distDir: dist }));
    const page = await app.request('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js"></script>');
    const script = await app.request('/dashboard/app.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toBe('console.log("built");\n');
    expect((await app.request('/dashboard/styles.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    // The charts' styles: uPlot's, copied by the build, and ours.
    writeFileSync(join(dist, 'uplot.css'), '.uplot {}\n');
    expect(await (await app.request('/dashboard/uplot.css')).text()).toBe('.uplot {}\n');
    expect((await app.request('/dashboard/charts.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await app.request('/dashboard/secrets.txt')).status).toBe(404);
    expect((await app.request('/dashboard/..%2Fpackage.json')).status).toBe(404);
  });

  it('says how to build the client when it has not been built', async () => {
    const app = new Hono().route('/', createDashboardRoutes({ distDir: join(dist, 'missing') }));
    expect(await (await app.request('/dashboard/app.js')).text()).toContain('npm run build:dashboard');
    expect((await app.request('/dashboard/uplot.css')).status).toBe(404);
  });

  it('needs no key for the page on a gateway with API keys, and shadows none of its routes', async () => {
    const database = await createPgliteDatabase();
    const app = createApp({ config: loadGatewayConfig({ API_KEYS: 'k1' }), database, logger: createLogger({ level: 'silent' }) });
    try {
      expect((await app.request('/')).status).toBe(200);
      expect((await app.request('/dashboard/styles.css')).status).toBe(200);
      expect((await app.request('/health')).status).toBe(200);
      expect((await app.request('/v1/batches')).status).toBe(401);
      expect((await app.request('/metrics')).status).toBe(401);
      const graphql = await app.request('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k1' },
        body: JSON.stringify({ query: '{ health }' }),
      });
      expect(await graphql.json()).toEqual({ data: { health: 'ok' } });
    } finally {
      await app.close();
      await database.close();
    }
  });
});
