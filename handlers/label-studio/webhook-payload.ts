import { z } from '../sdk/index.ts';
import { GOLD_CHOICE } from './label-config.ts';

// Label Studio's webhook payloads, from its source (HumanSignal/label-studio):
// label_studio/webhooks/utils.py (commit d1329c38c64a837cfc965e6f4a58e7a7077d0d49): run_webhook
//   POSTs `{action, ...payload}` as JSON with the webhook's own `headers`; emit_webhooks_for_instance
//   puts the serialized instance under the action's `key`, the project under `project`, and each
//   nested field (the annotation's `task`) under its name.
// label_studio/webhooks/models.py (commit 155880a814788fc76cc6971ddb6fbe96bdba2369): WebhookAction.ACTIONS:
//   ANNOTATION_CREATED / ANNOTATION_UPDATED: `annotation` (one) + `task` (one);
//   ANNOTATIONS_CREATED: `annotation` (a list) + `task` (a list); ANNOTATIONS_DELETED:
//   `annotations`, a list of `{id}` only (OnlyIDWebhookSerializer): no task, no data.
// label_studio/webhooks/serializers_for_hooks.py (commit 087bcd8a8dde1193f1e35b84f78e439632bfa0b4):
//   the annotation and the task are ModelSerializers of every field, so `annotation.task` and
//   `annotation.completed_by` are ids (integers), `task.data` is the imported data.

const resultItem = z.object({
  type: z.string({ error: 'expected the result item type (choices, rating, textarea)' }),
  from_name: z.string().optional(),
  value: z.record(z.string(), z.unknown(), { error: 'expected the result item value (an object)' }),
});

const user = z.union([z.number(), z.object({ id: z.number().optional(), email: z.string().optional() }), z.null()]).optional();

const annotation = z.object({
  id: z.number({ error: 'expected the annotation id (a number)' }).int(),
  task: z.number({ error: 'expected the id of the annotated task (a number)' }).int(),
  result: z.array(resultItem, { error: 'expected the annotation result (a list)' }),
  was_cancelled: z.boolean().optional(),
  // An id (the webhook serializer); an object with an email where a serializer expands the user.
  completed_by: user,
  // Who changed it last (label_studio/tasks/migrations/0032_annotation_updated_by.py); absent from older releases.
  updated_by: user,
});

const task = z.object({
  id: z.number({ error: 'expected the task id (a number)' }).int(),
  project: z.number().int().optional(),
  data: z.object(
    {
      batch_id: z.string({ error: "required: the task was not imported by the gateway's labelStudio handler (no batch_id)" }),
      custom_id: z.string({ error: "required: the task was not imported by the gateway's labelStudio handler (no custom_id)" }),
    },
    { error: 'expected the task data (an object)' },
  ),
});

const project = z.object({ id: z.number().int() }).optional();

const one = z.object({ action: z.string(), annotation, task, project });
const many = z.object({ action: z.string(), annotation: z.array(annotation), task: z.array(task), project });
const deleted = z.object({
  action: z.string(),
  annotations: z.array(z.object({ id: z.number({ error: 'expected the annotation id (a number)' }).int() }), {
    error: 'expected the deleted annotations (a list of {id})',
  }),
  project,
});

/** The actions the webhook acts on; Label Studio sends others too (tasks, projects), which are ignored. */
export const ANNOTATION_ACTIONS = ['ANNOTATION_CREATED', 'ANNOTATIONS_CREATED', 'ANNOTATION_UPDATED', 'ANNOTATIONS_DELETED'] as const;

type ResultItem = z.infer<typeof resultItem>;

/** One annotation Label Studio created or updated, with the task it belongs to. */
export interface LabelStudioAnnotation {
  annotationId: number;
  taskId: number;
  projectId: number | null;
  batchId: string;
  customId: string;
  /** Who made it (who changed it last, for an update): the email where the payload has it, else `label-studio:<user id>`. */
  annotator: string;
  /** A skipped task: an empty annotation that judges nothing. */
  skipped: boolean;
  result: ResultItem[];
}

/** What a webhook request asks for. */
export type LabelStudioWebhook =
  | { kind: 'annotations'; action: string; annotations: LabelStudioAnnotation[] }
  | { kind: 'deleted'; action: string; annotationIds: number[]; projectId: number | null }
  | { kind: 'ignored'; action: string };

/** A payload that is not what Label Studio sends: the message names the fields at fault. */
export class LabelStudioPayloadError extends Error {}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new LabelStudioPayloadError(
    parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
      .join('; '),
  );
}

const annotatorOf = (by: z.infer<typeof user>) => {
  if (typeof by === 'number') return `label-studio:${by}`;
  if (by?.email) return by.email;
  return by?.id === undefined ? 'label-studio' : `label-studio:${by.id}`;
};

/** Reads a Label Studio webhook body; throws {@link LabelStudioPayloadError} naming what is missing. */
export function readLabelStudioWebhook(body: unknown): LabelStudioWebhook {
  const { action } = parse(z.object({ action: z.string({ error: 'expected the webhook action (a string)' }) }), body);
  if (action === 'ANNOTATIONS_DELETED') {
    const { annotations, project: p } = parse(deleted, body);
    return { kind: 'deleted', action, annotationIds: annotations.map((a) => a.id), projectId: p?.id ?? null };
  }
  if (action !== 'ANNOTATION_CREATED' && action !== 'ANNOTATION_UPDATED' && action !== 'ANNOTATIONS_CREATED')
    return { kind: 'ignored', action };
  const {
    annotation: found,
    task: tasks,
    project: p,
  } = action === 'ANNOTATIONS_CREATED'
    ? parse(many, body)
    : (({ annotation: a, task: t, project: q }) => ({ annotation: [a], task: [t], project: q }))(parse(one, body));
  const annotations = found.map((a, i) => {
    const t = tasks.find((candidate) => candidate.id === a.task);
    if (!t)
      throw new LabelStudioPayloadError(
        `annotation${action === 'ANNOTATIONS_CREATED' ? `.${i}` : ''}.task: task ${a.task} is not in the payload's task`,
      );
    return {
      annotationId: a.id,
      taskId: t.id,
      projectId: t.project ?? p?.id ?? null,
      batchId: t.data.batch_id,
      customId: t.data.custom_id,
      // An update is the updater's judgement: the one who changed it last, else the one who made it.
      annotator: annotatorOf(action === 'ANNOTATION_UPDATED' ? (a.updated_by ?? a.completed_by) : a.completed_by),
      skipped: a.was_cancelled === true,
      result: a.result,
    };
  });
  return { kind: 'annotations', action, annotations };
}

/** What an annotation's result sets: gold, rating and correction (labels and notes are not Label Studio's). */
export interface LabelStudioJudgement {
  gold: boolean;
  rating: number | null;
  correction: string | null;
}

/**
 * Reads the judgement from an annotation's result items, by type: a `choices` item holding
 * {@link GOLD_CHOICE} is a gold star (none: not gold); a `rating` item the rating (none: no rating);
 * a `textarea` item the correction, but only when it differs from the model's `answer`: the
 * TextArea starts as the answer (the prediction), so submitting it unchanged corrects nothing.
 */
export function judgementOf(result: readonly ResultItem[], answer: string | null): LabelStudioJudgement {
  const gold = result.some(
    (item) => item.type === 'choices' && Array.isArray(item.value.choices) && item.value.choices.includes(GOLD_CHOICE),
  );
  const ratingItem = result.find((item) => item.type === 'rating');
  let rating: number | null = null;
  if (ratingItem) {
    const value = ratingItem.value.rating;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 5)
      throw new LabelStudioPayloadError(
        `annotation.result (${ratingItem.from_name ?? 'rating'}): expected a rating from 1 to 5, got ${JSON.stringify(value)}; use maxRating="5" in the Rating tag`,
      );
    rating = value;
  }
  const textItem = result.find((item) => item.type === 'textarea');
  const texts = textItem?.value.text;
  const text = Array.isArray(texts) ? texts.filter((t) => typeof t === 'string').join('\n') : typeof texts === 'string' ? texts : '';
  const correction = text.trim() && text.trim() !== (answer ?? '').trim() ? text : null;
  return { gold, rating, correction };
}
