import { Buffer } from 'node:buffer';
import { BATCH_EVENTS, defineHandler, httpError, secret, webhookHeaders, webhookSecretProblem, z } from '../sdk/index.ts';
import { buildPayload } from './payload.ts';

export { verifyWebhook, WebhookVerificationError } from '../sdk/index.ts';

const MIB = 1024 * 1024;

/** A signing secret: whsec_ and base64, or a plain string of at least 16 characters. */
const signingSecret = z
  .string()
  .min(16, { error: 'expected a secret of at least 16 characters' })
  .refine((s) => !webhookSecretProblem(s), { error: 'expected whsec_ followed by base64, or a plain secret without the prefix' });

/** The webhook handler: a signed POST of the batch object and links to its result files. */
export default defineHandler({
  name: 'webhook',
  description:
    'POSTs the finished batch (the OpenAI Batch object and links to its output and error files, optionally the results inline) to a URL, signed with HMAC-SHA256 in the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature. Retried with backoff on network errors, 429 and 5xx.',
  options: z.object({
    url: z.url({ protocol: /^https?$/, error: 'expected a URL (http:// or https://)' }).describe('Where to POST the batch.'),
    events: z
      .array(z.enum(BATCH_EVENTS))
      .min(1, { error: 'expected at least one event' })
      .default([...BATCH_EVENTS])
      .describe('The final batch statuses to deliver for (default: all of them).'),
    secret: secret(signingSecret)
      .optional()
      .describe("The signing secret for this batch (a string, or whsec_ and base64); default: the deployment's secret."),
    includeResults: z
      .boolean()
      .default(false)
      .describe('Put the results (the output and error lines) in the payload, up to maxInlineBytes.'),
    maxInlineBytes: z
      .number()
      .int()
      .positive()
      .max(16 * MIB, { error: 'expected at most 16 MiB' })
      .default(256 * 1024)
      .describe('The most bytes of inline results; above it the payload says results_omitted and the receiver downloads the files.'),
    headers: secret(z.record(z.string(), z.string()))
      .optional()
      .describe('Extra request headers (for example an Authorization header of the receiver); stored encrypted like the secret.'),
    timeoutSeconds: z.number().int().min(1).max(300).default(30).describe('How long to wait for the receiver to answer, in seconds.'),
  }),
  deploymentOptions: z.object({
    publicUrl: z
      .url({ error: 'expected the public URL of the gateway' })
      .optional()
      .describe('The base URL of the gateway, for links to result files.'),
    secret: signingSecret.optional().describe('The default signing secret.'),
  }),
  events: (options) => options.events,
  check(options, deployment) {
    if (!options.secret && !deployment.secret) {
      return [{ path: ['secret'], message: 'required: this deployment has no default webhook secret, so give the batch its own' }];
    }
  },
  async handle(context) {
    const { options, deployment } = context;
    const body = await buildPayload(context, deployment.publicUrl);
    const headers = {
      ...options.headers,
      'content-type': 'application/json',
      'user-agent': 'vllm-batch-server-webhook',
      ...webhookHeaders({
        secret: (options.secret ?? deployment.secret) as string,
        // The batch id is random, so unique beyond this database (run ids restart with a new one); one webhook run per batch.
        id: `msg_${context.batch.id}`,
        timestamp: Math.floor(Date.now() / 1000),
        body,
      }),
    };
    const response = await context.fetch(options.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.any([context.signal, AbortSignal.timeout(options.timeoutSeconds * 1000)]),
    });
    // Only the origin is named: webhook URLs often carry a token in their path, query or credentials.
    const receiver = new URL(options.url).origin;
    if (!response.ok) throw await httpError(response, `the webhook receiver ${receiver}`);
    await response.body?.cancel();
    context.logger.info('webhook delivered', { receiver, status: response.status, bytes: Buffer.byteLength(body) });
    return { status: response.status, bytes: Buffer.byteLength(body) };
  },
});
