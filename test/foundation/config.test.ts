import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/env.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';

describe('gateway configuration', () => {
  it('uses the documented defaults on an empty environment', () => {
    const config = loadGatewayConfig({});
    expect(config.PORT).toBe(8080);
    expect(config.DATA_DIR).toBe('./.data');
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('binds to loopback only when no API keys are set', () => {
    expect(loadGatewayConfig({}).host).toBe('127.0.0.1');
    expect(loadGatewayConfig({ API_KEYS: 'k1,k2' }).host).toBe('0.0.0.0');
    expect(loadGatewayConfig({ API_KEYS: 'k1, k2' }).API_KEYS).toEqual(['k1', 'k2']);
  });

  it('turns authentication on with administrator keys alone, accepting them as API keys', () => {
    const config = loadGatewayConfig({ ADMIN_API_KEYS: 'root' });
    expect(config.host).toBe('0.0.0.0');
    expect(config.apiKeys).toEqual(['root']);
    expect(loadGatewayConfig({ API_KEYS: 'k1,root', ADMIN_API_KEYS: 'root' }).apiKeys).toEqual(['k1', 'root']);
  });

  it('names every bad variable in one error', () => {
    let caught: unknown;
    try {
      loadGatewayConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', REDIS_URL: 'nope' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as Error).message;
    expect(message).toContain('PORT: expected a port number');
    expect(message).toContain('DATABASE_URL: expected a URL starting with postgres://');
    expect(message).toContain('REDIS_URL: expected a URL starting with redis://');
  });

  it('treats empty variables as unset', () => {
    expect(loadGatewayConfig({ PORT: '', DATABASE_URL: '' }).PORT).toBe(8080);
  });
});
