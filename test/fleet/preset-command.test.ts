import { describe, expect, it } from 'vitest';
import { engineLaunch, loadWorkerConfig } from '../../fleet/config.ts';
import { FLEET_USAGE, parseSupervisorArgs } from '../../fleet/supervisor/args.ts';
import { createLogger } from '../../core/logger.ts';
import { renderEngineCommand, renderVllmCommand, type ModelSpec } from '../../fleet/worker/engine-command.ts';
import { createOwnedEngine } from '../../fleet/worker/owned-engine.ts';

const model = (more: Partial<ModelSpec> = {}): ModelSpec => ({
  name: 'chat',
  source: 'org/Model-7B',
  engineArgs: [],
  maxConcurrency: null,
  ...more,
});

describe('the vLLM preset', () => {
  it("serves the model under its registry name on the worker's port, local only, with max_concurrency as its slots and the engine_args after", () => {
    const command = renderVllmCommand('vllm', {
      model: model({
        maxConcurrency: 128,
        engineArgs: ['--max-model-len', '4096', '--override-generation-config', '{"temperature": 0.5}'],
      }),
      port: 8001,
    });
    expect(command).toBe(
      `vllm serve org/Model-7B --served-model-name chat --port 8001 --host 127.0.0.1 --max-num-seqs 128 --max-model-len 4096 --override-generation-config '{"temperature": 0.5}'`,
    );
  });

  it('leaves the slots to vLLM when the registry has no max_concurrency, and runs the binary it is given', () => {
    expect(renderVllmCommand('bun fleet/entry/sim.ts', { model: model(), port: 8000 })).toBe(
      'bun fleet/entry/sim.ts serve org/Model-7B --served-model-name chat --port 8000 --host 127.0.0.1',
    );
  });

  it('refuses engine_args that set what the fleet sets, naming the model and the flag', () => {
    expect(() => renderVllmCommand('vllm', { model: model({ engineArgs: ['--port', '9000'] }), port: 8000 })).toThrow(
      "model chat: its engine_args set --port, which the fleet sets itself (the worker reaches its engine on the port the fleet gives it); remove it from the registry's engine_args",
    );
    expect(() => renderVllmCommand('vllm', { model: model({ engineArgs: ['--served_model_name=other'] }), port: 8000 })).toThrow(
      'set --served-model-name',
    );
    expect(() => renderVllmCommand('vllm', { model: model({ engineArgs: ['--host', '0.0.0.0'] }), port: 8000 })).toThrow('set --host');
    expect(() =>
      renderVllmCommand('vllm', { model: model({ maxConcurrency: 64, engineArgs: ['--max-num-seqs', '512'] }), port: 8000 }),
    ).toThrow('its engine_args set --max-num-seqs 512 but its max_concurrency is 64');
    expect(renderVllmCommand('vllm', { model: model({ engineArgs: ['--max-num-seqs', '512'] }), port: 8000 })).toContain(
      '--max-num-seqs 512',
    );
  });

  it('fails the start of such a model with the reason, starting nothing', async () => {
    const lines: string[] = [];
    const engine = createOwnedEngine({
      launch: { preset: 'vllm', bin: '/nonexistent/vllm' },
      port: 8000,
      gpu: '0',
      env: {},
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      health: async () => true,
      startTimeoutMs: 1000,
    });
    await expect(engine.start(model({ engineArgs: ['--port=9000'] }))).rejects.toThrow('model chat: its engine_args set --port');
    expect(engine.model).toBeNull();
    expect(lines.filter((l) => l.includes('starting engine'))).toEqual([]);
  });

  it('is what `--engine vllm` and ENGINE=vllm start, with VLLM_BIN as the binary', () => {
    expect(parseSupervisorArgs(['--gpus', '0,1', '--engine', 'vllm'])).toMatchObject({
      gpus: ['0', '1'],
      engine: 'vllm',
      engineUrls: null,
      engineCmd: null,
    });
    expect(engineLaunch(loadWorkerConfig({ ENGINE: 'vllm' }))).toEqual({ preset: 'vllm', bin: 'vllm' });
    expect(engineLaunch(loadWorkerConfig({ ENGINE: 'vllm', VLLM_BIN: '/opt/venv/bin/vllm' }))).toEqual({
      preset: 'vllm',
      bin: '/opt/venv/bin/vllm',
    });
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine', 'sglang'])).toThrow('--engine sglang is unknown; use one of vllm');
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine', 'vllm', '--engine-cmd', 'x {name} {port}'])).toThrow(
      'give exactly one of',
    );
    expect(() => loadWorkerConfig({ ENGINE: 'vllm', ENGINE_URL: 'http://a:8000' })).toThrow('set exactly one of ENGINE_URL');
    expect(FLEET_USAGE.indexOf('--engine vllm')).toBeLessThan(FLEET_USAGE.indexOf('--engine-url'));
  });
});

describe('a command template for another engine', () => {
  it("is refused without {name}, saying the engine must serve the registry's name", () => {
    const why =
      'the engine command has no {name}: the engine must serve each model under its registry name, the one requests ask for (vLLM: --served-model-name {name})';
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine-cmd', 'vllm serve {model} --port {port}'])).toThrow(`--engine-cmd: ${why}`);
    expect(() => loadWorkerConfig({ ENGINE_CMD: 'vllm serve {model} --port {port}' })).toThrow(`ENGINE_CMD: ${why}`);
  });

  it('is refused without {port}', () => {
    expect(() => parseSupervisorArgs(['--gpus', '0', '--engine-cmd', 'my-engine {model} --name {name}'])).toThrow(
      'no {port}: the worker reaches its engine on the port it gives it (vLLM: --port {port})',
    );
    expect(() => loadWorkerConfig({ ENGINE_CMD: 'my-engine {model} --name {name}' })).toThrow(
      'ENGINE_CMD: the engine command has no {port}',
    );
  });

  it('runs as given when it has both', () => {
    expect(parseSupervisorArgs(['--gpus', '0', '--engine-cmd', 'my-engine {model} --name {name} --port {port}'])).toMatchObject({
      engine: null,
      engineCmd: 'my-engine {model} --name {name} --port {port}',
    });
    expect(engineLaunch(loadWorkerConfig({ ENGINE_CMD: 'my-engine {model} --name {name} --port {port}' }))).toEqual({
      template: 'my-engine {model} --name {name} --port {port}',
    });
  });

  it('is filled in with the model, its name, the port and the engine args, quoting what needs it', () => {
    const command = renderEngineCommand('vllm serve {model} --served-model-name {name} --port {port} {args}', {
      model: { name: 'chat', source: 'org/Model-7B', engineArgs: ['--max-num-seqs', '512', "--chat-template=it's"] },
      port: 8001,
      gpu: '1',
    });
    expect(command).toBe("vllm serve org/Model-7B --served-model-name chat --port 8001 --max-num-seqs 512 '--chat-template=it'\\''s'");
  });
});
