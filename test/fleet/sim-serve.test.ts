// The simulator's process as `vllm serve`: its command line (engine/arg_utils.py flag names) and its
// SIGTERM (entrypoints/launcher.py + v1/engine/core.py _handle_shutdown with shutdown_timeout=0).
import { describe, expect, it } from 'vitest';
import { runToEnd, start, BUN } from '../helpers/processes.ts';

describe('the simulator as `vllm serve`', () => {
  it("takes vLLM's serve command line, ignores the engine flags it does not model, and aborts streams on SIGTERM", async () => {
    const sim = start(BUN, [
      'fleet/entry/sim.ts',
      'serve',
      'org/Model-7B',
      '--served-model-name',
      'm',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--max-num-seqs',
      '8',
      '--gpu-memory-utilization',
      '0.9',
      '--dtype',
      'auto',
      '--enable-prefix-caching',
      '--tpot-ms',
      '20',
      '--output-tokens',
      '500',
    ]);
    try {
      const [, url] = (await sim.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
      expect(sim.output()).toContain('"flags":["--gpu-memory-utilization 0.9","--dtype auto","--enable-prefix-caching"]');
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string; root: string }[] };
      expect(models.data.map((m) => [m.id, m.root])).toEqual([['m', 'org/Model-7B']]);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'm',
          messages: [{ role: 'user', content: 'hi' }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      void sim.stop('SIGTERM');
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(text).toMatch(/"finish_reason":"abort"/);
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      await sim.stop('SIGKILL');
    }
  });

  it('still refuses a misspelled flag outside serve mode', async () => {
    const result = await runToEnd(BUN, ['fleet/entry/sim.ts', '--port', '0', '--max-num-seq', '8']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--max-num-seq'");
  });
});
