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
// A bulk action's items are read one by one (see readLabelStudioWebhook): only the lists are checked here.
const many = z.object({
  action: z.string(),
  annotation: z.array(z.unknown(), { error: 'expected the created annotations (a list)' }),
  task: z.array(z.unknown(), { error: 'expected the annotated tasks (a list)' }),
  project,
});
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

/** An item of a bulk action that cannot be recorded: which annotation and task, and why. */
export interface LabelStudioItemFailure {
  annotationId: number | null;
  taskId: number | null;
  error: string;
}

/** What a webhook request asks for. */
export type LabelStudioWebhook =
  | {
      kind: 'annotations';
      action: string;
      /** ANNOTATIONS_CREATED: its items are recorded one by one, a bad one failing alone. */
      bulk: boolean;
      /**
       * In the payload's order: an annotation to record, or an item of a bulk action that is not
       * what Label Studio sends for our tasks (a single action's bad item throws instead).
       */
      items: ({ annotation: LabelStudioAnnotation } | { failure: LabelStudioItemFailure })[];
    }
  | { kind: 'deleted'; action: string; annotationIds: number[]; projectId: number | null }
  | { kind: 'ignored'; action: string };

/** A payload that is not what Label Studio sends: the message names the fields at fault. */
export class LabelStudioPayloadError extends Error {}

function parse<T>(schema: z.ZodType<T>, body: unknown, at: readonly (string | number)[] = []): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new LabelStudioPayloadError(
    parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${[...at, ...issue.path].join('.') || 'body'}: ${issue.message}`)
      .join('; '),
  );
}

/** A field of an item that may not be what it should: its integer id, else null. */
const idOf = (value: unknown, key: string): number | null => {
  const id = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return typeof id === 'number' && Number.isInteger(id) ? id : null;
};

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
  if (action !== 'ANNOTATIONS_CREATED') {
    const { annotation: a, task: t, project: p } = parse(one, body);
    if (a.task !== t.id) throw new LabelStudioPayloadError(`annotation.task: task ${a.task} is not in the payload's task`);
    return { kind: 'annotations', action, bulk: false, items: [{ annotation: toAnnotation(action, a, t, p?.id ?? null) }] };
  }
  // Label Studio does not retry a webhook: one item that cannot be recorded (a task added by
  // hand, an unknown custom_id) must not lose the others, so each item is read on its own.
  const { annotation: items, task: tasks, project: p } = parse(many, body);
  const read = items.map((item, i) => {
    const annotationId = idOf(item, 'id');
    let taskId = idOf(item, 'task');
    try {
      const a = parse(annotation, item, ['annotation', i]);
      const at = tasks.findIndex((candidate) => idOf(candidate, 'id') === a.task);
      if (at < 0) throw new LabelStudioPayloadError(`annotation.${i}.task: task ${a.task} is not in the payload's task list`);
      const t = parse(task, tasks[at], ['task', at]);
      taskId = t.id;
      return { annotation: toAnnotation(action, a, t, p?.id ?? null) };
    } catch (error) {
      if (!(error instanceof LabelStudioPayloadError)) throw error;
      return { failure: { annotationId, taskId, error: error.message } };
    }
  });
  return { kind: 'annotations', action, bulk: true, items: read };
}

function toAnnotation(
  action: string,
  a: z.infer<typeof annotation>,
  t: z.infer<typeof task>,
  projectId: number | null,
): LabelStudioAnnotation {
  return {
    annotationId: a.id,
    taskId: t.id,
    projectId: t.project ?? projectId,
    batchId: t.data.batch_id,
    customId: t.data.custom_id,
    // An update is the updater's judgement: the one who changed it last, else the one who made it.
    annotator: annotatorOf(action === 'ANNOTATION_UPDATED' ? (a.updated_by ?? a.completed_by) : a.completed_by),
    skipped: a.was_cancelled === true,
    result: a.result,
  };
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
