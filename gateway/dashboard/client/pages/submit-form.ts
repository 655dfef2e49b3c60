import type { Api } from '../api.ts';
import { h, replace } from '../dom.ts';

const ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'];

/** The `url` of the first request of a JSONL file, when it names a supported endpoint. */
async function endpointOf(file: File): Promise<string | null> {
  const head = await file.slice(0, 256 * 1024).text();
  const line = head.split('\n').find((l) => l.trim());
  try {
    const url = (JSON.parse(line ?? '') as { url?: unknown }).url;
    return typeof url === 'string' && ENDPOINTS.includes(url) ? url : null;
  } catch {
    return null;
  }
}

/** A form that uploads a JSONL file (POST /v1/files) and creates a batch of it (POST /v1/batches), then opens the batch. */
export function submitForm(api: Api): HTMLFormElement {
  const file = h('input', { type: 'file', name: 'file', accept: '.jsonl,application/jsonl,text/plain', required: true });
  const endpoint = h(
    'select',
    { name: 'endpoint' },
    ENDPOINTS.map((e) => h('option', { value: e }, e)),
  );
  const priority = h('input', { type: 'number', name: 'priority', value: 0, min: -1000, max: 1000, step: 1 });
  const message = h('span', { class: 'message', role: 'status' });
  const button = h('button', { type: 'submit' }, 'Submit batch');
  file.addEventListener('change', async () => {
    const chosen = file.files?.[0];
    const found = chosen ? await endpointOf(chosen) : null;
    if (found) endpoint.value = found;
  });
  const form = h(
    'form',
    { class: 'submit-form', 'aria-label': 'Submit a batch' },
    h('label', null, 'Batch file (JSONL) ', file),
    h('label', null, 'Endpoint ', endpoint),
    h('label', null, 'Priority ', priority),
    button,
    message,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    button.disabled = true;
    replace(message, `Uploading ${chosen.name}...`);
    try {
      const upload = new FormData();
      upload.append('purpose', 'batch');
      upload.append('file', chosen, chosen.name);
      const stored = await api.rest<{ id: string }>('POST', '/v1/files', upload);
      const batch = await api.rest<{ id: string }>('POST', '/v1/batches', {
        input_file_id: stored.id,
        endpoint: endpoint.value,
        completion_window: '24h',
        priority: Number(priority.value) || 0,
      });
      location.hash = `#/batches/${batch.id}`;
    } catch (error) {
      replace(message, h('span', { class: 'error' }, (error as Error).message));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
