import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createApp } from '../../gateway/app.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { useTestDatabase } from '../helpers/database.ts';

describe('the gateway app', () => {
  const test = useTestDatabase();
  const app = () => createApp({ config: loadGatewayConfig({}), database: test().database, logger: createLogger({ level: 'silent' }) });

  it('answers /health with status ok', async () => {
    const res = await app().request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves GraphiQL to a browser at /graphql', async () => {
    const res = await app().request('/graphql', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('GraphiQL');
  });

  it('answers GraphQL queries at /graphql', async () => {
    const res = await app().request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ health }' }),
    });
    expect(await res.json()).toEqual({ data: { health: 'ok' } });
  });
});
