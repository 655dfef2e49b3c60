import { startReceiver } from '../support/http-receiver.ts';
import type { HandlerHarness } from './harness.ts';

/** The webhook delivers one request; inline results are its "results at the destination". */
export const webhookHarness: HandlerHarness = {
  name: 'webhook',
  invalid: [
    { options: { url: 'not a url', secret: 'a-secret-long-enough' }, problem: 'handlers.webhook.url: expected a URL' },
    { options: { url: 'ftp://example.test', secret: 'a-secret-long-enough' }, problem: 'handlers.webhook.url: expected a URL' },
    {
      options: { url: 'https://example.test', secret: 'short' },
      problem: 'handlers.webhook.secret: expected a secret of at least 16 characters',
    },
    { options: { url: 'https://example.test', events: ['done'] }, problem: 'handlers.webhook.events[0]' },
    { options: { url: 'https://example.test', timeoutSeconds: 0 }, problem: 'handlers.webhook.timeoutSeconds' },
  ],
  async start() {
    const receiver = await startReceiver();
    const failAt = new Set<number>();
    receiver.reply = (_request, index) => (failAt.has(index) ? { status: 503 } : { status: 204 });
    const inline = (batchId: string) =>
      receiver.received
        .map((r) => JSON.parse(r.body.toString()))
        .filter((p) => p.data.batch.id === batchId)
        .flatMap((p) => p.data.results ?? []);
    return {
      options: { url: `${receiver.url}/hook`, includeResults: true, maxInlineBytes: 64 * 1024 },
      deployment: { secret: 'contract-webhook-secret' },
      count: async (batchId) => inline(batchId).length,
      // 5,000 results are far over 64 KiB: the payload says results_omitted instead.
      expected: (n) => (n * 120 < 64 * 1024 ? n : 0),
      duplicates: async (batchId) => inline(batchId).length - new Set(inline(batchId).map((r) => r.custom_id)).size,
      async failAfter(okFirst) {
        failAt.add(receiver.received.length + okFirst);
      },
      close: () => receiver.close(),
    };
  },
};
