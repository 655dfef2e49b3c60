import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

/** Where `npm run build:dashboard` (scripts/build-dashboard.ts) writes the bundled client. */
export const DASHBOARD_DIST = fileURLToPath(new URL('./dist/', import.meta.url));
const STATIC = fileURLToPath(new URL('./static/', import.meta.url));

/** The files the dashboard serves under `/dashboard/`, with their type and folder. */
const ASSETS: Record<string, { type: string; dir: 'static' | 'dist' }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', dir: 'dist' },
  'app.js.map': { type: 'application/json; charset=utf-8', dir: 'dist' },
  'uplot.css': { type: 'text/css; charset=utf-8', dir: 'dist' },
  'styles.css': { type: 'text/css; charset=utf-8', dir: 'static' },
  'charts.css': { type: 'text/css; charset=utf-8', dir: 'static' },
  'favicon.svg': { type: 'image/svg+xml', dir: 'static' },
};

// The page makes every request itself (fetch and the WebSocket, with the API key), so it may
// load nothing but its own files and talk to nothing but this gateway.
const HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

const NOT_BUILT = `The dashboard has not been built: run \`npm run build:dashboard\` (\`npm start\` builds it), then reload.`;

/** Options for {@link createDashboardRoutes}. */
export interface DashboardOptions {
  /** The folder of the built client (default {@link DASHBOARD_DIST}). */
  distDir?: string;
}

/**
 * The web dashboard: `GET /` is its page, `/dashboard/*` its script and styles. They hold no
 * data, so they are served without authentication; the page asks for the API key and sends
 * it with every request it makes.
 */
export function createDashboardRoutes({ distDir = DASHBOARD_DIST }: DashboardOptions = {}) {
  const routes = new Hono();
  routes.get('/', async (c) => {
    const page = await readFile(`${STATIC}index.html`, 'utf8');
    return c.body(page, 200, { ...HEADERS, 'content-type': 'text/html; charset=utf-8' });
  });
  routes.get('/dashboard/:name', async (c) => {
    const asset = ASSETS[c.req.param('name')];
    if (!asset) return c.notFound();
    const dir = asset.dir === 'dist' ? distDir : STATIC;
    const body = await readFile(`${dir}/${c.req.param('name')}`).catch(() => null);
    if (!body) {
      // Only the script can say that the client was not built; a stylesheet of the build is just missing.
      if (asset.dir !== 'dist' || !asset.type.startsWith('text/javascript')) return c.notFound();
      return c.body(`document.body.textContent = ${JSON.stringify(NOT_BUILT)};`, 200, { ...HEADERS, 'content-type': asset.type });
    }
    return c.body(body, 200, { ...HEADERS, 'content-type': asset.type });
  });
  return routes;
}
