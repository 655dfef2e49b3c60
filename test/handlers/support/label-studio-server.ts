import { startReceiver, type HttpReceiver, type Reply } from './http-receiver.ts';

/** A task as Label Studio receives it on import. */
export interface ImportedTask {
  data: Record<string, unknown>;
  predictions?: { model_version: string; result: unknown[] }[];
}

/** A real HTTP server implementing Label Studio's task import endpoint for the tests. */
export interface LabelStudioServer {
  url: string;
  token: string;
  /** Tasks by project id, in import order. */
  projects: Map<number, ImportedTask[]>;
  /** Import requests received, including refused ones. */
  requests: HttpReceiver['received'];
  /** Answers the import request with this index (0-based, counted from now) with a 503. */
  failRequest(after: number, reply?: Reply): void;
  close(): Promise<void>;
}

/**
 * Starts the server: `POST /api/projects/{id}/import` with `Authorization: Token <token>`
 * and a JSON array of tasks (each with `data`) answers 201 with Label Studio's counts;
 * a wrong token is 401, an unknown project 404, a malformed task 400.
 */
export async function startLabelStudio({
  token = 'ls-test-token',
  projects = [7],
}: {
  token?: string;
  projects?: number[];
} = {}): Promise<LabelStudioServer> {
  const receiver = await startReceiver();
  const server: LabelStudioServer = {
    url: receiver.url,
    token,
    projects: new Map(projects.map((id) => [id, []])),
    requests: receiver.received,
    failRequest(after, reply = { status: 503, body: { detail: 'Service Unavailable' } }) {
      failures.set(receiver.received.length + after, reply);
    },
    close: () => receiver.close(),
  };
  const failures = new Map<number, Reply>();
  receiver.reply = (request, index) => {
    const failure = failures.get(index);
    if (failure) return failure;
    const match = /^\/api\/projects\/(\d+)\/import$/.exec(request.path);
    if (request.method !== 'POST' || !match) return { status: 404, body: { detail: 'Not found.' } };
    if (request.headers.authorization !== `Token ${token}`) return { status: 401, body: { detail: 'Invalid token.' } };
    const tasks = server.projects.get(Number(match[1]));
    if (!tasks) return { status: 404, body: { detail: 'Not found.' } };
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString());
    } catch {
      return { status: 400, body: { detail: 'JSON parse error' } };
    }
    if (!Array.isArray(body) || !body.every((t) => t && typeof t === 'object' && typeof t.data === 'object')) {
      return { status: 400, body: { detail: 'Each task must have a data object' } };
    }
    tasks.push(...(body as ImportedTask[]));
    const predictions = (body as ImportedTask[]).reduce((n, t) => n + (t.predictions?.length ?? 0), 0);
    return { status: 201, body: { task_count: body.length, annotation_count: 0, prediction_count: predictions, duration: 0.01 } };
  };
  return server;
}
