import { describe, expect, expectTypeOf, it } from 'vitest';
import { BATCH_EVENTS } from '../../handlers/sdk/index.ts';
import {
  BATCH_STATUS_RANK,
  BATCH_STATUSES,
  batchStatusesBefore,
  FINALIZED_FROM,
  FINISHED_REQUEST_STATES,
  isFinalStatus,
  REQUEST_STATES,
  TERMINAL_BATCH_STATUSES,
  type TerminalBatchStatus,
} from '../../schema/index.ts';

// What the code wrote out by hand before the state machines were declared once (schema/states/):
// the derived lists must be the same.
describe('the state machines', () => {
  it('derive the terminal batch statuses: those with no transition', () => {
    expect([...TERMINAL_BATCH_STATUSES].sort()).toEqual(['cancelled', 'completed', 'expired', 'failed']);
  });

  it('rank batch statuses along the lifecycle, every terminal status last', () => {
    expect(BATCH_STATUS_RANK).toEqual({
      validating: 0,
      in_progress: 1,
      finalizing: 2,
      cancelling: 2,
      completed: 3,
      failed: 3,
      expired: 3,
      cancelled: 3,
    });
  });

  it('finalize each final status from the one status before it', () => {
    expect(FINALIZED_FROM).toEqual({ completed: 'finalizing', failed: 'in_progress', expired: 'in_progress', cancelled: 'cancelling' });
    expect(BATCH_STATUSES.filter(isFinalStatus)).toEqual(['failed', 'completed', 'expired', 'cancelled']);
    expect(batchStatusesBefore('cancelling')).toEqual(['validating', 'in_progress']);
  });

  it('list every request state, the finished ones last', () => {
    expect(REQUEST_STATES).toEqual(['queued', 'leased', 'succeeded', 'failed', 'cancelled', 'expired']);
    expect(REQUEST_STATES.slice(-FINISHED_REQUEST_STATES.length)).toEqual(FINISHED_REQUEST_STATES);
  });

  it("give handlers the batch's terminal statuses as their events (the handler SDK may not import schema/)", () => {
    expect([...BATCH_EVENTS].sort()).toEqual([...TERMINAL_BATCH_STATUSES].sort());
    expectTypeOf<(typeof BATCH_EVENTS)[number]>().toEqualTypeOf<TerminalBatchStatus>();
  });
});
