import { defineHandler, httpError, secret, z } from '../sdk/index.ts';
import { toTask } from './task.ts';

/** The Label Studio handler: one task per result, with the model's output as a prediction, imported in chunks. */
export default defineHandler({
  name: 'labelStudio',
  description:
    "Imports one Label Studio task per result into a project (POST /api/projects/{id}/import), with the model's output as a prediction to review. Imported in chunks; a retry resumes after the last imported chunk. Retried with backoff on 429 and 5xx.",
  options: z.object({
    projectId: z
      .number()
      .int()
      .positive({ error: 'expected a Label Studio project id' })
      .describe('The Label Studio project to import into.'),
    url: z
      .url({ protocol: /^https?$/, error: 'expected a URL (http:// or https://)' })
      .optional()
      .describe("Label Studio's base URL; default: the deployment's."),
    token: secret(z.string().min(1)).optional().describe("An API token of Label Studio; default: the deployment's."),
    chunkSize: z.number().int().min(1).max(5000).default(200).describe('Tasks per import request.'),
    includeErrors: z.boolean().default(false).describe('Also import the requests that failed (their error as the text).'),
    textKey: z.string().default('response').describe('The task data key that holds the model output (the value of your Text tag).'),
    fromName: z.string().default('answer').describe('The control tag (e.g. a TextArea) the prediction fills.'),
    toName: z.string().default('response').describe('The object tag the prediction refers to.'),
    modelVersion: z.string().optional().describe("The prediction's model_version; default: the batch's model."),
  }),
  deploymentOptions: z.object({
    url: z.url({ error: 'expected the base URL of Label Studio' }).optional().describe('The base URL of Label Studio.'),
    token: z.string().min(1).optional().describe('An API token of Label Studio (Authorization: Token ...).'),
  }),
  events: ['completed', 'expired', 'cancelled'],
  check(options, deployment) {
    const issues = [];
    if (!options.url && !deployment.url)
      issues.push({ path: ['url'], message: 'required: this deployment has no default Label Studio URL' });
    if (!tokenFor(options, deployment)) {
      const message = otherServer(options, deployment)
        ? "required with a url of the batch's own: the deployment's token is only sent to the deployment's Label Studio"
        : 'required: this deployment has no default Label Studio token';
      issues.push({ path: ['token'], message });
    }
    return issues;
  },
  async handle(context) {
    const { options, deployment, batch } = context;
    const base = (options.url ?? deployment.url ?? '').replace(/\/+$/, '');
    const endpoint = `${base}/api/projects/${options.projectId}/import`;
    const done = (context.checkpoint as { imported?: number } | null)?.imported ?? 0;
    let seen = 0;
    let imported = done;
    let chunk: unknown[] = [];

    const flush = async () => {
      const response = await context.fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Token ${tokenFor(options, deployment)}`, 'content-type': 'application/json' },
        body: JSON.stringify(chunk),
        signal: context.signal,
      });
      if (!response.ok) throw await httpError(response, `Label Studio (${endpoint})`);
      await response.body?.cancel();
      imported += chunk.length;
      chunk = [];
      // Saved after every chunk, so a retry does not import the same tasks twice.
      await context.saveCheckpoint({ imported });
    };

    for await (const result of context.results({ only: options.includeErrors ? undefined : 'output' })) {
      seen += 1;
      if (seen <= done) continue;
      chunk.push(toTask(result, batch, options));
      if (chunk.length >= options.chunkSize) await flush();
    }
    if (chunk.length) await flush();
    context.logger.info('imported into Label Studio', { projectId: options.projectId, tasks: imported - done, resumedAfter: done });
    return { projectId: options.projectId, imported };
  },
});

type Urls = { url?: string | undefined; token?: string | undefined };
const normalized = (url: string) => new URL(url).href.replace(/\/+$/, '');

/** Whether the batch names a Label Studio other than the deployment's. */
const otherServer = (options: Urls, deployment: Urls) =>
  !!options.url && (!deployment.url || normalized(options.url) !== normalized(deployment.url));

/** The token to send: the batch's, or the deployment's, but that one only to the deployment's own server (any API user may name a URL). */
const tokenFor = (options: Urls, deployment: Urls) => options.token ?? (otherServer(options, deployment) ? undefined : deployment.token);
