import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isConnectionLoss } from '../../core/connection-loss.ts';
import { BUN, runToEnd } from '../helpers/processes.ts';

const MODULE = fileURLToPath(new URL('../../core/connection-loss.ts', import.meta.url));
const LOGGER = fileURLToPath(new URL('../../core/logger.ts', import.meta.url));

/** A Bun process that takes the guard, then leaves `rejection` unhandled and says whether it lived on. */
const run = (rejection: string) =>
  runToEnd(BUN, [
    '-e',
    `import { surviveConnectionLoss } from ${JSON.stringify(MODULE)};
     import { createLogger } from ${JSON.stringify(LOGGER)};
     surviveConnectionLoss(createLogger({ level: 'info' }));
     void Promise.reject(${rejection});
     setTimeout(() => { console.log('still running'); process.exit(0); }, 300);`,
  ]);

describe('a process that survives a lost database connection', () => {
  it('tells a lost or refused connection from other errors, also when a driver wraps it', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isConnectionLoss(reset)).toBe(true);
    expect(isConnectionLoss(new Error('Failed query: select 1', { cause: reset }))).toBe(true);
    expect(isConnectionLoss(Object.assign(new Error('gone'), { code: 'CONNECTION_CLOSED' }))).toBe(true);
    expect(isConnectionLoss(Object.assign(new Error('syntax'), { code: '42601' }))).toBe(false);
    expect(isConnectionLoss(new TypeError('x is undefined'))).toBe(false);
    expect(isConnectionLoss(undefined)).toBe(false);
  });

  it("lives on after postgres.js's unhandled connection reset, with a warning", async () => {
    const result = await run(`Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' })`);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('still running');
    expect(result.stdout + result.stderr).toMatch(/"level":"warn","msg":"a database connection was lost/);
  });

  it('still stops, with exit code 1, on any other unhandled rejection', async () => {
    const result = await run(`new TypeError('a bug')`);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('still running');
    expect(result.stdout + result.stderr).toMatch(/"level":"error","msg":"unhandled rejection; the process stops"/);
  });
});
