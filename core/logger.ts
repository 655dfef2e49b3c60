/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Fields attached to a structured log line (batch_id, request_id, worker_id, ...). */
export type LogFields = Record<string, unknown>;

/** A structured JSON logger: one line per event, with the fields of its context on every line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * The ids every line about a batch, request, worker or file carries, under their snake_case
 * names (docs/observability.md): a field given in camelCase is written under the convention's
 * name, so `jq 'select(.batch_id == ...)'` finds every line whichever part wrote it.
 */
export const ID_FIELDS: Readonly<Record<string, string>> = {
  batchId: 'batch_id',
  requestId: 'request_id',
  customId: 'custom_id',
  workerId: 'worker_id',
  fileId: 'file_id',
  handlerRunId: 'handler_run_id',
};

function normalize(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const key in fields) {
    const name = ID_FIELDS[key];
    if (!name) continue;
    out ??= { ...fields };
    out[name] = out[key];
    delete out[key];
  }
  return out ?? fields;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  fields?: LogFields;
  write?: (line: string) => void;
}

/** Creates a logger writing JSON lines (to stderr by default). */
export function createLogger({
  level = 'info',
  fields = {},
  // console.error is stderr on Bun, Node and Deno, and the log stream of edge platforms (no process.stderr there).
  write = (line) => console.error(line),
}: LoggerOptions = {}): Logger {
  fields = normalize(fields);
  const min = RANK[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, message: string, extra?: LogFields) => {
    if (RANK[lvl] < min) return;
    const line: LogFields = { time: new Date().toISOString(), level: lvl, msg: message, ...fields, ...(extra && normalize(extra)) };
    if (extra?.err instanceof Error) line.err = { message: extra.err.message, stack: extra.err.stack };
    write(JSON.stringify(line));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (more) => createLogger({ level, fields: { ...fields, ...normalize(more) }, write }),
  };
}
