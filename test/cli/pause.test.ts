import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { FIXTURES, useCliGateway } from './harness.ts';

const CHAT = `${FIXTURES}chat-100.jsonl`;

describe('vbs pause and vbs resume', () => {
  const gateway = useCliGateway();

  async function submitted(): Promise<string> {
    const result = await gateway().run(['submit', CHAT, '--json']);
    expect(result.code).toBe(EXIT.OK);
    await gateway().app.validator.idle();
    return (JSON.parse(result.stdout) as { id: string }).id;
  }

  it('pauses a batch, shows it paused in vbs status, and resumes it', async () => {
    const id = await submitted();
    const paused = await gateway().run(['pause', id]);
    expect(paused.code).toBe(EXIT.OK);
    expect(paused.stdout).toBe(`Batch ${id} paused (in_progress); resume it with: vbs resume ${id}\n`);
    const status = await gateway().run(['status', id]);
    expect(status.stdout).toContain(`${id}  in_progress`);
    expect(status.stdout).toMatch(/\n {2}paused {10}\S/);
    const json = JSON.parse((await gateway().run(['pause', id, '--json'])).stdout) as { status: string; paused_at: number | null };
    expect(json).toMatchObject({ status: 'in_progress', paused_at: expect.any(Number) });

    const resumed = await gateway().run(['resume', id]);
    expect(resumed.code).toBe(EXIT.OK);
    expect(resumed.stdout).toBe(`Batch ${id} resumed (in_progress).\n`);
    expect((await gateway().run(['status', id])).stdout).not.toContain('paused');
  });

  it('exits 2 with what to do for a batch that has ended, and 4 for an unknown batch', async () => {
    const id = await submitted();
    await gateway().run(['cancel', id]);
    const pause = await gateway().run(['pause', id]);
    expect(pause.code).toBe(EXIT.USAGE);
    expect(pause.stderr).toContain(`Batch ${id} is cancelled: only a validating or in_progress batch can be paused`);
    const resume = await gateway().run(['resume', id]);
    expect(resume.code).toBe(EXIT.USAGE);
    expect(resume.stderr).toContain('can no longer be resumed');
    const missing = await gateway().run(['resume', 'batch_nope']);
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.stderr).toContain('batch_nope');
  });

  it('lists both commands in vbs --help', async () => {
    const help = await gateway().run(['--help']);
    expect(help.stdout).toMatch(/\n {2}pause +Pause a batch/);
    expect(help.stdout).toMatch(/\n {2}resume +Resume a paused batch/);
  });
});
