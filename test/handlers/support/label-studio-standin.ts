import { startReceiver, type HttpReceiver, type Reply } from './http-receiver.ts';

// A stand-in for Label Studio, speaking the parts of its API and webhooks the gateway uses, as
// Label Studio's source (HumanSignal/label-studio) has them:
// - label_studio/data_import/urls.py (commit 16f6056e5f2f22bf4aa16f6b78ab359a07dccc37) and api.py
//   (commit 5daa24b4467b6334a4807463d736caa8386a7086): POST /api/projects/<pk>/import takes a JSON
//   list of tasks ({data, predictions}), checks the data against the project's label_config (every
//   $variable it uses must be there), answers 201 {task_count, annotation_count, prediction_count,
//   duration, file_upload_ids, could_be_tasks_list, found_formats, data_columns}.
// - label_studio/projects/urls.py (commit 04f08ff07791ec0622eab7a9d4b2e3429b589909): the project is
//   /api/projects/<pk>/ (trailing slash), PATCH {label_config} changes the labeling configuration.
// - DRF token authentication: `Authorization: Token <key>`, 401 {"detail": "Invalid token."}.
// - label_studio/webhooks/models.py (commit 155880a814788fc76cc6971ddb6fbe96bdba2369), utils.py
//   (commit d1329c38c64a837cfc965e6f4a58e7a7077d0d49), serializers_for_hooks.py (commit
//   087bcd8a8dde1193f1e35b84f78e439632bfa0b4), and docs/source/guide/webhook_reference.md: a webhook
//   is {url, headers (at most 10, names [a-zA-Z0-9-_]+), send_payload, actions}; it is POSTed
//   `{action, ...}` as JSON with its headers: ANNOTATION_CREATED / ANNOTATION_UPDATED carry
//   `annotation` (every field of the model: `task` and `completed_by` are ids), `task` (with
//   `data`) and `project`; ANNOTATIONS_DELETED carries `annotations: [{id}]` and `project` only.

/** A result item of an annotation or prediction (`from_name`, `to_name`, `type`, `value`). */
export interface ResultItem {
  id?: string;
  from_name: string;
  to_name: string;
  type: string;
  value: Record<string, unknown>;
  origin?: string;
}

/** A task as Label Studio stores it. */
export interface StandinTask {
  id: number;
  project: number;
  data: Record<string, unknown>;
  predictions: { id: number; model_version: string; result: ResultItem[]; score?: number }[];
}

/** An annotation as Label Studio's webhook serializer gives it (every model field). */
export interface StandinAnnotation {
  id: number;
  result: ResultItem[];
  task: number;
  project: number;
  completed_by: number;
  updated_by: number;
  was_cancelled: boolean;
  ground_truth: boolean;
  created_at: string;
  updated_at: string;
  lead_time: number;
  parent_prediction: number | null;
  parent_annotation: number | null;
  result_count: number;
  last_action: string | null;
  unique_id: string;
}

/** A webhook as configured in a project's settings (Settings > Webhooks). */
export interface StandinWebhook {
  url: string;
  headers?: Record<string, string>;
  /** Default true: send the payload, not only the action. */
  sendPayload?: boolean;
  /** Default every action (`send_for_all_actions`). */
  actions?: string[];
}

/** What the webhook's receiver answered. */
export interface WebhookDelivery {
  action: string;
  status: number;
  body: unknown;
}

/** The stand-in, started by {@link startLabelStudioStandin}. */
export interface LabelStudioStandin {
  url: string;
  token: string;
  /** Projects by id: their label_config and tasks. */
  projects: Map<number, { id: number; title: string; label_config: string; tasks: StandinTask[] }>;
  /** Every API request received, refused ones included. */
  requests: HttpReceiver['received'];
  /** Answers the API request with this index (0-based, counted from now) with this reply (default 503). */
  failRequest(after: number, reply?: Reply): void;
  /** The task of a project with this custom_id in its data. */
  taskOf(projectId: number, customId: string): StandinTask;
  /** Adds a project webhook, as a project's settings do. */
  addWebhook(projectId: number, webhook: StandinWebhook): void;
  /** A reviewer submits an annotation of a task: ANNOTATION_CREATED. */
  submitAnnotation(
    taskId: number,
    result: ResultItem[],
    options?: { userId?: number; skipped?: boolean },
  ): Promise<{ annotation: StandinAnnotation; deliveries: WebhookDelivery[] }>;
  /** A reviewer changes an annotation: ANNOTATION_UPDATED. */
  updateAnnotation(annotationId: number, result: ResultItem[], options?: { userId?: number }): Promise<WebhookDelivery[]>;
  /** An annotation is deleted: ANNOTATIONS_DELETED, with its id only. */
  deleteAnnotation(annotationId: number): Promise<WebhookDelivery[]>;
  /** Sends any body to the project's webhooks as Label Studio's run_webhook would (for payloads the stand-in does not make). */
  emit(projectId: number, action: string, payload: Record<string, unknown>): Promise<WebhookDelivery[]>;
  close(): Promise<void>;
}

const HEADER_NAME = /^[a-zA-Z0-9-_]+$/;

/** The `$variables` a labeling configuration reads from task data (Label Studio checks imports against them). */
export const configVariables = (config: string) => [...new Set([...config.matchAll(/value="\$([A-Za-z0-9_]+)"/g)].map((m) => m[1]!))];

/** Starts the stand-in on a free loopback port, with empty projects of these ids and `<View></View>` as their config. */
export async function startLabelStudioStandin({
  token = 'ls-test-token',
  projects = [1],
}: {
  token?: string;
  projects?: number[];
} = {}): Promise<LabelStudioStandin> {
  const receiver = await startReceiver();
  const failures = new Map<number, Reply>();
  const webhooks = new Map<number, StandinWebhook[]>();
  const annotations = new Map<number, StandinAnnotation>();
  const tasks = new Map<number, StandinTask>();
  let nextId = 100;
  const now = () => new Date().toISOString().replace('Z', '000Z');

  const projectJson = (id: number) => {
    const p = standin.projects.get(id)!;
    return {
      id,
      title: p.title,
      description: '',
      label_config: p.label_config,
      organization: 1,
      created_by: 1,
      task_number: p.tasks.length,
    };
  };

  /** label_studio/webhooks/utils.py run_webhook: `{action}` plus the payload, as JSON, with the webhook's headers. */
  const emit = async (projectId: number, action: string, payload: Record<string, unknown>) => {
    const deliveries: WebhookDelivery[] = [];
    for (const hook of webhooks.get(projectId) ?? []) {
      if (hook.actions && !hook.actions.includes(action)) continue;
      const data = hook.sendPayload === false ? { action } : { action, ...payload };
      const response = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...hook.headers },
        body: JSON.stringify(data),
        // settings.WEBHOOK_TIMEOUT: 1.0 second by default; Label Studio logs a failure and moves on.
        signal: AbortSignal.timeout(5000),
      });
      const text = await response.text();
      deliveries.push({ action, status: response.status, body: text ? JSON.parse(text) : null });
    }
    return deliveries;
  };

  /** emit_webhooks_for_instance for an annotation action: the annotation, the project, and the nested task. */
  const emitAnnotation = (action: string, annotation: StandinAnnotation) => {
    const task = tasks.get(annotation.task)!;
    return emit(task.project, action, {
      annotation,
      project: projectJson(task.project),
      task: {
        ...task,
        predictions: undefined,
        annotations: undefined,
        is_labeled: true,
        overlap: 1,
        meta: {},
        inner_id: task.id,
        total_annotations: 1,
        cancelled_annotations: 0,
        total_predictions: task.predictions.length,
        file_upload: null,
        updated_by: null,
        created_at: now(),
        updated_at: now(),
      },
    });
  };

  const standin: LabelStudioStandin = {
    url: receiver.url,
    token,
    projects: new Map(projects.map((id) => [id, { id, title: `Project ${id}`, label_config: '<View></View>', tasks: [] }])),
    requests: receiver.received,
    failRequest(after, reply = { status: 503, body: { detail: 'Service Unavailable' } }) {
      failures.set(receiver.received.length + after, reply);
    },
    taskOf(projectId, customId) {
      const task = standin.projects.get(projectId)?.tasks.find((t) => t.data.custom_id === customId);
      if (!task) throw new Error(`the stand-in's project ${projectId} has no task with custom_id ${customId}`);
      return task;
    },
    addWebhook(projectId, webhook) {
      const names = Object.keys(webhook.headers ?? {});
      // HEADERS_SCHEMA of label_studio/webhooks/models.py.
      if (names.length > 10 || names.some((n) => !HEADER_NAME.test(n)))
        throw new Error(`Label Studio refuses these webhook headers: ${names}`);
      webhooks.set(projectId, [...(webhooks.get(projectId) ?? []), webhook]);
    },
    async submitAnnotation(taskId, result, { userId = 1, skipped = false } = {}) {
      const task = tasks.get(taskId);
      if (!task) throw new Error(`the stand-in has no task ${taskId}`);
      const at = now();
      const annotation: StandinAnnotation = {
        id: nextId++,
        result: skipped ? [] : result,
        task: taskId,
        project: task.project,
        completed_by: userId,
        updated_by: userId,
        was_cancelled: skipped,
        ground_truth: false,
        created_at: at,
        updated_at: at,
        lead_time: 12.5,
        parent_prediction: task.predictions[0]?.id ?? null,
        parent_annotation: null,
        result_count: 0,
        last_action: null,
        unique_id: crypto.randomUUID(),
      };
      annotations.set(annotation.id, annotation);
      return { annotation, deliveries: await emitAnnotation('ANNOTATION_CREATED', annotation) };
    },
    async updateAnnotation(annotationId, result, { userId } = {}) {
      const annotation = annotations.get(annotationId);
      if (!annotation) throw new Error(`the stand-in has no annotation ${annotationId}`);
      Object.assign(annotation, {
        result,
        updated_by: userId ?? annotation.completed_by,
        updated_at: now(),
        lead_time: annotation.lead_time + 3,
      });
      return emitAnnotation('ANNOTATION_UPDATED', annotation);
    },
    async deleteAnnotation(annotationId) {
      const annotation = annotations.get(annotationId);
      if (!annotation) throw new Error(`the stand-in has no annotation ${annotationId}`);
      annotations.delete(annotationId);
      // api_webhook_for_delete: OnlyIDWebhookSerializer, many=True.
      return emit(annotation.project, 'ANNOTATIONS_DELETED', {
        annotations: [{ id: annotationId }],
        project: projectJson(annotation.project),
      });
    },
    emit,
    close: () => receiver.close(),
  };

  receiver.reply = (request, index) => {
    const failure = failures.get(index);
    if (failure) return failure;
    if (request.headers.authorization !== `Token ${token}`) return { status: 401, body: { detail: 'Invalid token.' } };
    const importMatch = /^\/api\/projects\/(\d+)\/import$/.exec(request.path);
    const projectMatch = /^\/api\/projects\/(\d+)\/$/.exec(request.path);
    const project = standin.projects.get(Number((importMatch ?? projectMatch)?.[1]));
    if (!project || (importMatch && request.method !== 'POST')) return { status: 404, body: { detail: 'Not found.' } };
    let body: unknown;
    try {
      body = request.body.length ? JSON.parse(request.body.toString()) : null;
    } catch {
      return { status: 400, body: { detail: 'JSON parse error' } };
    }
    if (projectMatch) {
      if (request.method === 'GET') return { status: 200, body: projectJson(project.id) };
      if (request.method !== 'PATCH') return { status: 405, body: { detail: `Method "${request.method}" not allowed.` } };
      const config = (body as { label_config?: unknown } | null)?.label_config;
      if (config !== undefined) {
        if (typeof config !== 'string' || !/^<View[\s>][\s\S]*<\/View>$/.test(config.trim()))
          return { status: 400, body: { label_config: ['Label config is not valid XML'] } };
        project.label_config = config;
      }
      return { status: 200, body: projectJson(project.id) };
    }
    if (!Array.isArray(body) || !body.every((t) => t && typeof t === 'object' && t.data && typeof t.data === 'object')) {
      return { status: 400, body: { detail: 'Each task must have a data object' } };
    }
    // "Imported data is verified against a project label_config and must include all variables that were used in the label_config."
    const needed = configVariables(project.label_config);
    for (const [i, t] of (body as { data: Record<string, unknown> }[]).entries()) {
      const missing = needed.filter((key) => !(key in t.data));
      if (missing.length)
        return { status: 400, body: { detail: `Task ${i}: data is missing ${missing.join(', ')} used in the labeling config` } };
    }
    const imported = (body as { data: Record<string, unknown>; predictions?: { model_version: string; result: ResultItem[] }[] }[]).map(
      (t) => {
        const task: StandinTask = {
          id: nextId++,
          project: project.id,
          data: t.data,
          predictions: (t.predictions ?? []).map((p) => ({ ...p, id: nextId++ })),
        };
        tasks.set(task.id, task);
        return task;
      },
    );
    project.tasks.push(...imported);
    const predictions = imported.reduce((n, t) => n + t.predictions.length, 0);
    const columns = [...new Set(imported.flatMap((t) => Object.keys(t.data)))];
    return {
      status: 201,
      body: {
        task_count: imported.length,
        annotation_count: 0,
        prediction_count: predictions,
        duration: 0.01,
        file_upload_ids: [],
        could_be_tasks_list: false,
        found_formats: [],
        data_columns: columns,
      },
    };
  };
  return standin;
}
