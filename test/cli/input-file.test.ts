import { describe, expect, it } from 'vitest';
import { rewriteModel } from '../../cli/input-file.ts';

describe('--model', () => {
  it('replaces the model of every request and keeps lines it cannot read', () => {
    const text = '{"custom_id":"a","body":{"model":"x","n":1}}\nnot json\n\n{"custom_id":"b","body":{"model":"y"}}\n';
    expect(rewriteModel(text, 'm')).toBe(
      '{"custom_id":"a","body":{"model":"m","n":1}}\nnot json\n\n{"custom_id":"b","body":{"model":"m"}}\n',
    );
  });
});
