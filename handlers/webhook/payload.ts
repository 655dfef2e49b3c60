import { Buffer } from 'node:buffer';
import type { HandlerBatch, HandlerContext } from '../sdk/index.ts';

/** A result file as the payload links it. */
interface FileLink {
  id: string;
  /** The path on the gateway; with the gateway's public URL known, also the full URL. */
  path: string;
  url: string | null;
}

/** The JSON the webhook POSTs, in the Standard Webhooks shape `{ type, timestamp, data }`. */
export interface WebhookPayload {
  type: `batch.${string}`;
  timestamp: string;
  data: {
    batch: HandlerBatch;
    output_file: FileLink | null;
    error_file: FileLink | null;
    results?: unknown[];
    results_omitted?: boolean;
  };
}

type Context = HandlerContext<{ includeResults: boolean; maxInlineBytes: number }, unknown>;

/**
 * The exact body to send. Inline results are read line by line and dropped as soon as
 * they pass the size limit, so a large batch is never read whole.
 */
export async function buildPayload(context: Context, publicUrl: string | undefined): Promise<string> {
  const { batch, options } = context;
  const payload: WebhookPayload = {
    type: `batch.${context.event}`,
    timestamp: new Date().toISOString(),
    data: {
      batch,
      output_file: link(batch.output_file_id, publicUrl),
      error_file: link(batch.error_file_id, publicUrl),
    },
  };
  if (!options.includeResults) return JSON.stringify(payload);

  const lines: string[] = [];
  let bytes = 0;
  let omitted = false;
  for await (const result of context.results()) {
    const line = JSON.stringify(result);
    bytes += Buffer.byteLength(line) + 1;
    if (bytes > options.maxInlineBytes) {
      omitted = true;
      break;
    }
    lines.push(line);
  }
  if (omitted) {
    payload.data.results_omitted = true;
    return JSON.stringify(payload);
  }
  // The results are spliced in as already-serialised lines rather than parsed again.
  const head = JSON.stringify(payload).slice(0, -2);
  return `${head},"results":[${lines.join(',')}]}}`;
}

function link(id: string | null, publicUrl: string | undefined): FileLink | null {
  if (!id) return null;
  const path = `/v1/files/${id}/content`;
  return { id, path, url: publicUrl ? `${publicUrl.replace(/\/+$/, '')}${path}` : null };
}
