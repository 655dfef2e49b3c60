/** The OpenAI Batch object as the gateway's `/v1/batches` returns it, with this server's extensions. */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string | null;
  status: string;
  errors: { data: { code: string; line: number | null; message: string; param: string | null }[] } | null;
  input_file_id: string;
  output_file_id: string | null;
  error_file_id: string | null;
  completion_window: string;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  usage?: { input_tokens: number; output_tokens: number };
  priority: number;
  queue_position: number | null;
  estimated_completion_at: number | null;
  /** When its owner paused it (unix seconds); null while it is not paused. Absent from gateways without pause. */
  paused_at?: number | null;
}

/** OpenAI's list envelope. */
export interface ListObject<T> {
  data: T[];
  has_more: boolean;
  last_id: string | null;
}

/** The statuses a batch ends in. */
export const FINAL_STATUSES: readonly string[] = ['completed', 'failed', 'expired', 'cancelled'];

/** Whether a batch status is final. */
export const isFinal = (status: string) => FINAL_STATUSES.includes(status);
