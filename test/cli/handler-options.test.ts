import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../cli/exit-codes.ts';
import { parseHandlerFlags, parseMetadataFlags } from '../../cli/handler-options.ts';

describe('--handler and --metadata flags', () => {
  it('build nested handler options, reading JSON values', () => {
    expect(
      parseHandlerFlags([
        'webhook.url=https://x.test/a?b=c',
        'webhook.includeResults=true',
        'webhook.headers.X-Token=abc',
        'webhook.events=["completed"]',
        'labelStudio',
      ]),
    ).toEqual({
      webhook: { url: 'https://x.test/a?b=c', includeResults: true, headers: { 'X-Token': 'abc' }, events: ['completed'] },
      labelStudio: {},
    });
  });

  it('refuse a flag without an option name or value, with a usage error', () => {
    for (const flag of ['=x', 'webhook=x', 'webhook.url', 'webhook..url=x', 'webhook.events=[oops']) {
      expect(() => parseHandlerFlags([flag]), flag).toThrow(CliError);
      try {
        parseHandlerFlags([flag]);
      } catch (error) {
        expect((error as CliError).exitCode).toBe(EXIT.USAGE);
      }
    }
  });

  it('read metadata pairs', () => {
    expect(parseMetadataFlags(['team=search', 'run=a=b'])).toEqual({ team: 'search', run: 'a=b' });
    expect(parseMetadataFlags([])).toBeUndefined();
    expect(() => parseMetadataFlags(['novalue'])).toThrow(CliError);
  });
});
