import type { HandlerBatch, HandlerResult } from '../sdk/index.ts';

interface TaskOptions {
  textKey: string;
  fromName: string;
  toName: string;
  modelVersion?: string | undefined;
}

/** A Label Studio task: the result's text in `data`, and the same text as a TextArea prediction. */
export function toTask(result: HandlerResult, batch: HandlerBatch, options: TaskOptions) {
  const text = resultText(result);
  return {
    data: {
      [options.textKey]: text,
      custom_id: result.custom_id,
      batch_id: batch.id,
      status_code: result.response?.status_code ?? null,
    },
    predictions: [
      {
        model_version: options.modelVersion ?? batch.model ?? 'unknown',
        result: [{ from_name: options.fromName, to_name: options.toName, type: 'textarea', value: { text: [text] } }],
      },
    ],
  };
}

/** The text of a result: a chat message, a completion, or else the body (or error) as JSON. */
export function resultText(result: HandlerResult): string {
  if (result.error) return `error ${result.error.code}: ${result.error.message}`;
  const body = result.response?.body as { choices?: { message?: { content?: unknown }; text?: unknown }[] } | undefined;
  const choice = body?.choices?.[0];
  if (typeof choice?.message?.content === 'string') return choice.message.content;
  if (typeof choice?.text === 'string') return choice.text;
  return JSON.stringify(result.response?.body ?? null);
}
