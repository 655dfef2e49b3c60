import { describe, expect, it } from 'vitest';
import { parseSupervisorArgs } from '../../fleet/supervisor/args.ts';

describe("the supervisor's command line", () => {
  it('parses GPUs, engine URLs, runtime and host, naming what is wrong', () => {
    expect(parseSupervisorArgs(['--gpus', '0,1', '--engine-url', 'http://a:8000,http://b:8000', '--host', 'h'])).toMatchObject({
      gpus: ['0', '1'],
      engineUrls: ['http://a:8000', 'http://b:8000'],
      engineCmd: null,
      runtime: 'bun',
      host: 'h',
    });
    expect(() => parseSupervisorArgs(['--gpus', '0,1', '--engine-url', 'http://a:8000'])).toThrow('--engine-url has 1 URL(s) for 2 GPU(s)');
    expect(() => parseSupervisorArgs(['--gpus', '0'])).toThrow('give exactly one of --engine-url');
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine-cmd', 'x', '--runtime', 'python'])).toThrow('--runtime python is unknown');
  });
});
