import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { AppError } from '../../core/errors.ts';
import type { EventBus } from '../../core/events/index.ts';
import type { Logger } from '../../core/logger.ts';
import {
  judgementOf,
  LabelStudioPayloadError,
  readLabelStudioWebhook,
  resultText,
  type LabelStudioAnnotation,
} from '../../handlers/index.ts';
import { setResultMetadata } from '../../schema/index.ts';
import { annotateAndAnnounce, annotationRefused } from '../annotations/index.ts';
import type { AppDeps } from '../app-deps.ts';
import { createJsonBodyLimit } from '../body-limit.ts';
import { LABEL_STUDIO_METADATA_KEY, resultAnswer, resultsOfAnnotations, type LabelStudioLink } from './label-studio-lookups.ts';

/** What the webhook runs with: the app's dependencies and the event bus it announces changes on. */
export type LabelStudioWebhookDeps = Pick<AppDeps, 'database' | 'logger' | 'config' | 'handlers'> & { bus: EventBus };

const SOURCE = 'label-studio';
/** ANNOTATIONS_DELETED says only which annotation went, not who removed it. */
const DELETED_BY = 'label-studio';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Whether the Authorization header carries the secret: digests compared in constant time, whatever the lengths. */
const carriesSecret = (authorization: string | undefined, secret: string) => {
  const given = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  return given !== undefined && timingSafeEqual(digest(given), digest(secret));
};

/**
 * `POST /v1/integrations/label-studio/webhook`: Label Studio's annotation webhooks. Mounted
 * before API-key authentication: Label Studio holds no API key, it sends the deployment's
 * LABEL_STUDIO_WEBHOOK_SECRET as `Authorization: Bearer <secret>` (a header set on the
 * webhook). Each annotation is mapped back to its result by the task data the labelStudio
 * handler imported (`batch_id`, `custom_id`) and recorded as the result's annotation (source
 * `label-studio`); a deleted one clears gold, rating and correction. A bulk action
 * (ANNOTATIONS_CREATED) records each item on its own and answers 200 naming the items it could
 * not record, since Label Studio does not retry; a single annotation it cannot record is
 * refused (400/404). Other actions are
 * answered 200 and ignored: Label Studio sends every action to a webhook unless told otherwise.
 */
export function createLabelStudioWebhook(deps: LabelStudioWebhookDeps) {
  const { database, config, logger } = deps;
  const bodyLimit = createJsonBodyLimit({
    maxBytes: config.MAX_JSON_BODY_BYTES,
    tooLarge: (error) => Response.json(error.toOpenAI(), { status: error.httpStatus }),
  });

  /** Records one annotation's judgement, and remembers which Label Studio annotation it came from (for a later deletion). */
  const record = async (item: LabelStudioAnnotation) => {
    const target = { batchId: item.batchId, customId: item.customId };
    const answer = await resultAnswer(database.db, item.batchId, item.customId);
    if (!answer) throw notFound(item, await annotationRefused(database, target, 'not_found'));
    const body = answer.response === null ? null : jsonOrText(answer.response);
    const response = answer.response === null ? null : { status_code: answer.statusCode ?? 200, request_id: '', body };
    const answerText = answer.response === null && !answer.error ? null : resultText({ response, error: answer.error });
    const judgement = payloadChecked(() => judgementOf(item.result, answerText));
    const outcome = await annotateAndAnnounce(deps, {
      ...target,
      owner: null,
      patch: judgement,
      annotator: item.annotator,
      source: SOURCE,
    });
    if (!outcome.ok) throw notFound(item, await annotationRefused(database, target, outcome.reason));
    const link: LabelStudioLink = { projectId: item.projectId, taskId: item.taskId, annotationId: item.annotationId };
    await setResultMetadata(database.db, { ...target, metadata: { [LABEL_STUDIO_METADATA_KEY]: link } });
    return { batch_id: item.batchId, custom_id: item.customId, annotation_id: item.annotationId, changed: outcome.changed, ...judgement };
  };

  // Checked before the body is read: without the secret nothing is read at all.
  const requireSecret: MiddlewareHandler = async function requireWebhookSecret(c, next) {
    const secret = config.LABEL_STUDIO_WEBHOOK_SECRET;
    if (!secret)
      throw new AppError(
        'NOT_FOUND',
        "Label Studio's webhook is not enabled on this gateway: set LABEL_STUDIO_WEBHOOK_SECRET, and send it from the Label Studio webhook as the header Authorization: Bearer <secret> (docs/handlers.md).",
        { reason: 'label_studio_webhook_disabled' },
      );
    if (!carriesSecret(c.req.header('authorization'), secret))
      throw new AppError(
        'UNAUTHENTICATED',
        "Send LABEL_STUDIO_WEBHOOK_SECRET as the webhook's header Authorization: Bearer <secret> (Label Studio: project Settings > Webhooks > Headers).",
        { reason: 'invalid_webhook_secret' },
      );
    await next();
  };

  return new Hono<{ Variables: { log?: Logger } }>().post('/', requireSecret, bodyLimit, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('BAD_REQUEST', 'The body is not JSON: expected a Label Studio webhook payload ({"action": ..., ...}).');
    }
    const webhook = payloadChecked(() => readLabelStudioWebhook(body));
    const log = c.get('log') ?? logger;

    if (webhook.kind === 'ignored')
      return c.json({
        action: webhook.action,
        ignored: `this gateway records ANNOTATION_CREATED, ANNOTATIONS_CREATED, ANNOTATION_UPDATED and ANNOTATIONS_DELETED only`,
      });

    if (webhook.kind === 'deleted') {
      const found = await resultsOfAnnotations(database.db, webhook.annotationIds, webhook.projectId);
      const recorded = [];
      for (const { batchId, customId, link } of found) {
        const patch = { gold: null, rating: null, correction: null };
        const outcome = await annotateAndAnnounce(deps, { batchId, customId, owner: null, patch, annotator: DELETED_BY, source: SOURCE });
        if (!outcome.ok) continue; // The batch went since (deleted): nothing left to clear.
        const { annotationId: _gone, ...rest } = link;
        await setResultMetadata(database.db, { batchId, customId, metadata: { [LABEL_STUDIO_METADATA_KEY]: rest } });
        recorded.push({ batch_id: batchId, custom_id: customId, annotation_id: link.annotationId, changed: outcome.changed, ...patch });
      }
      // An id not found was not the latest annotation of any result (or not one of ours): nothing to clear.
      const cleared = new Set(found.map((f) => f.link.annotationId));
      const ignored = webhook.annotationIds.filter((id) => !cleared.has(id));
      log.info('label studio: annotations deleted', { cleared: recorded.length, ignored: ignored.length });
      return c.json({ action: webhook.action, recorded, ignored_annotations: ignored });
    }

    const recorded = [];
    const skipped = [];
    if (!webhook.bulk) {
      for (const item of webhook.items) {
        if (!('annotation' in item)) continue; // A single action's bad item is refused when read.
        if (item.annotation.skipped) skipped.push(item.annotation.annotationId);
        else recorded.push(await record(item.annotation));
      }
      log.info('label studio: annotations recorded', { action: webhook.action, recorded: recorded.length, skipped: skipped.length });
      return c.json({ action: webhook.action, recorded, skipped_annotations: skipped });
    }

    // A bulk action is answered 200 whatever its items: Label Studio does not retry a webhook,
    // so a refusal would only lose the good items after a bad one. The bad ones are named instead.
    const failed: { annotation_id: number | null; task_id: number | null; error: string }[] = [];
    for (const item of webhook.items) {
      if ('failure' in item) {
        const { annotationId, taskId, error } = item.failure;
        failed.push({ annotation_id: annotationId, task_id: taskId, error: `Not a Label Studio annotation webhook: ${error}` });
        continue;
      }
      const { annotation } = item;
      if (annotation.skipped) {
        skipped.push(annotation.annotationId);
        continue;
      }
      try {
        recorded.push(await record(annotation));
      } catch (error) {
        // Input the gateway refuses (unknown custom_id, bad rating); anything else (the database) fails the request.
        if (!(error instanceof AppError)) throw error;
        failed.push({ annotation_id: annotation.annotationId, task_id: annotation.taskId, error: error.message });
      }
    }
    for (const failure of failed)
      log.warn('label studio: an annotation of a bulk action was not recorded', { action: webhook.action, ...failure });
    log.info('label studio: annotations recorded', {
      action: webhook.action,
      recorded: recorded.length,
      failed: failed.length,
      skipped: skipped.length,
    });
    return c.json({ action: webhook.action, recorded: recorded.length, failed, skipped_annotations: skipped });
  });
}

/** A response body as JSON, or as the text it is when it is not JSON. */
function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Runs a reading of the payload, a {@link LabelStudioPayloadError} becoming a BAD_REQUEST that names the field. */
function payloadChecked<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof LabelStudioPayloadError) throw new AppError('BAD_REQUEST', `Not a Label Studio annotation webhook: ${err.message}`);
    throw err;
  }
}

/** The refusal of an annotation, naming the Label Studio task it came from. */
const notFound = (item: LabelStudioAnnotation, error: AppError) =>
  new AppError(error.code, `Label Studio task ${item.taskId} (annotation ${item.annotationId}): ${error.message}`, {
    param: 'task.data.custom_id',
    reason: error.reason,
  });
