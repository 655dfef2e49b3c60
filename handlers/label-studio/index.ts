import { defineHandler, httpError, secret, z } from '../sdk/index.ts';
import { labelConfig, LABEL_CONFIG_NAMES } from './label-config.ts';
import { toTask } from './task.ts';

export { GOLD_CHOICE, LABEL_CONFIG, LABEL_CONFIG_NAMES, labelConfig, type LabelConfigNames } from './label-config.ts';

/** Task data keys the import writes itself: the answer may not take one. */
const RESERVED_KEYS = ['messages', 'prompt', 'custom_id', 'batch_id', 'status_code', 'metadata'];

/** The Label Studio handler: one task per result (prompt, answer, batch and custom_id), the answer also as a prediction to correct, imported in chunks. */
export default defineHandler({
  name: 'labelStudio',
  description:
    "Imports one Label Studio task per result into a project (POST /api/projects/{id}/import): the prompt, the answer, and the answer again as a prediction for the correction text area; first sets the project's labeling configuration (gold star, 1–5 rating, correction) unless told not to. Imported in chunks; a retry resumes after the last imported chunk. Retried with backoff on 429 and 5xx.",
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
    textKey: z
      .string()
      .min(1)
      .refine((key) => !RESERVED_KEYS.includes(key), {
        error: `expected a key other than ${RESERVED_KEYS.join(', ')} (the import writes those)`,
      })
      .default(LABEL_CONFIG_NAMES.textKey)
      .describe('The task data key that holds the model output (the value of your Text tag).'),
    fromName: z.string().min(1).default(LABEL_CONFIG_NAMES.fromName).describe('The control tag (a TextArea) the prediction fills.'),
    toName: z.string().min(1).default(LABEL_CONFIG_NAMES.toName).describe('The object tag the prediction refers to.'),
    setLabelConfig: z
      .boolean()
      .default(true)
      .describe(
        "Before the first task, give the project the gateway's labeling configuration (gold star, rating, correction; with textKey, fromName and toName) when it has none yet (a new project's empty <View></View>); a project with a configuration of its own keeps it. false: never look.",
      ),
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
    const send = async (url: string, method: string, body: unknown) => {
      const response = await context.fetch(url, {
        method,
        headers: { authorization: `Token ${tokenFor(options, deployment)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: context.signal,
      });
      if (!response.ok) throw await httpError(response, `Label Studio (${method} ${url})`);
      await response.body?.cancel();
    };

    // Before the first chunk only: a retry has set it already. The trailing slash is the route's
    // (label_studio/projects/urls.py: '<int:pk>/'); Django does not redirect a PATCH without it.
    // Only a project without a configuration of its own gets ours: a project someone set up keeps
    // theirs (the webhook reads a choice, a rating and a text area whatever their names).
    if (options.setLabelConfig && done === 0) {
      const project = `${base}/api/projects/${options.projectId}/`;
      const response = await context.fetch(project, {
        headers: { authorization: `Token ${tokenFor(options, deployment)}` },
        signal: context.signal,
      });
      if (!response.ok) throw await httpError(response, `Label Studio (GET ${project})`);
      const current = ((await response.json()) as { label_config?: unknown }).label_config;
      if (isUnconfigured(current)) await send(project, 'PATCH', { label_config: labelConfig(options) });
      else if (current !== labelConfig(options))
        context.logger.warn('the Label Studio project has a labeling configuration of its own; it is kept', {
          projectId: options.projectId,
        });
    }

    const flush = async () => {
      await send(endpoint, 'POST', chunk);
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

/**
 * Whether a project's labeling configuration is Label Studio's empty default: a project made
 * without one has `<View></View>` (label_studio/projects/models.py, Project.label_config).
 */
const isUnconfigured = (config: unknown) => typeof config !== 'string' || /^\s*(<View>\s*<\/View>|<View\s*\/>)?\s*$/.test(config);

type Urls = { url?: string | undefined; token?: string | undefined };
const normalized = (url: string) => new URL(url).href.replace(/\/+$/, '');

/** Whether the batch names a Label Studio other than the deployment's. */
const otherServer = (options: Urls, deployment: Urls) =>
  !!options.url && (!deployment.url || normalized(options.url) !== normalized(deployment.url));

/** The token to send: the batch's, or the deployment's, but that one only to the deployment's own server (any API user may name a URL). */
const tokenFor = (options: Urls, deployment: Urls) => options.token ?? (otherServer(options, deployment) ? undefined : deployment.token);
