import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { rows } from '../../schema/index.ts';
import { FIXTURES, useCliGateway } from './harness.ts';

const CHAT = `${FIXTURES}chat-100.jsonl`;

describe('vbs submit with an error budget', () => {
  const gateway = useCliGateway();

  const budgetOf = async (id: string) =>
    (
      await rows<{ maxFailed: number | null; ratio: number | null; min: number }>(
        gateway().db.database.db,
        sql`select max_failed_requests as "maxFailed", max_failure_ratio as "ratio", min_requests_for_ratio as "min" from batches where id = ${id}`,
      )
    )[0];

  it('sets max_failed_requests with --max-failures, and the ratio with --max-failure-ratio and --min-requests', async () => {
    const counted = await gateway().run(['submit', CHAT, '--json', '--max-failures', '5']);
    expect(counted.stderr).toBe('');
    expect(counted.code).toBe(EXIT.OK);
    expect(await budgetOf((JSON.parse(counted.stdout) as { id: string }).id)).toEqual({ maxFailed: 5, ratio: null, min: 100 });
    const ratio = await gateway().run(['submit', CHAT, '--json', '--max-failure-ratio', '0.2', '--min-requests', '30']);
    expect(ratio.code).toBe(EXIT.OK);
    expect(await budgetOf((JSON.parse(ratio.stdout) as { id: string }).id)).toEqual({ maxFailed: null, ratio: 0.2, min: 30 });
    const none = await gateway().run(['submit', CHAT, '--json']);
    expect(await budgetOf((JSON.parse(none.stdout) as { id: string }).id)).toEqual({ maxFailed: null, ratio: null, min: 100 });
    await gateway().app.validator.idle();
  });

  it('exits 2 naming the option and what it takes for a bad budget, before uploading anything', async () => {
    for (const [args, message] of [
      [['--max-failures=-1'], '--max-failures must be a whole number of failed requests (0 or more), not "-1".'],
      [['--max-failures', 'five'], '--max-failures must be a whole number'],
      [['--max-failure-ratio', '1.5'], '--max-failure-ratio must be a share of the finished requests from 0 to 1'],
      [['--min-requests', '10'], '--min-requests applies only with --max-failure-ratio'],
    ] as const) {
      const result = await gateway().run(['submit', CHAT, ...args]);
      expect(result.code, args.join(' ')).toBe(EXIT.USAGE);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stdout).toBe('');
    }
  });

  it('documents the options in vbs submit --help', async () => {
    const help = await gateway().run(['submit', '--help']);
    expect(help.stdout).toMatch(/--max-failures N +error budget: stop the batch once more than N requests have failed/);
    expect(help.stdout).toContain('--max-failure-ratio R');
  });
});
