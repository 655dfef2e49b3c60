import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../../fleet/sim/index.ts';

describe("the simulator's command line", () => {
  it('parses port, models, slots and error rate, naming what is wrong', () => {
    expect(parseSimArgs(['--port', '8100', '--model', 'a,b', '--slots', '1024', '--tpot-ms', '30', '--error-rate', '0.1'])).toMatchObject({
      port: 8100,
      models: ['a', 'b'],
      slots: 1024,
      tpotMs: 30,
      errorRate: 0.1,
    });
    expect(() => parseSimArgs(['--error-rate', '2'])).toThrow('--error-rate');
  });
});
