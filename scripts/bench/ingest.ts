// Ingest: seconds and peak memory of a Bun gateway to validate and queue a stored 50,000-line
// file of about 100 MB (from POST /v1/batches until the batch is in_progress), against
// Postgres COPY of the same rows into `requests`; the upload before it (POST /v1/files) is
// timed apart. Usage: bun scripts/bench/ingest.ts [--quick]
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { createScratchDatabase, ensureFetchLimit, modeOf, peakRssMb, report, round, say, spawnBun, type Child } from './support.ts';

await ensureFetchLimit();
const { quick } = modeOf();
const LINES = quick ? 1000 : 50_000;
const MAX_PEAK_MB = 256;
const NAME = 'ingest';
const FILLER = 'lorem ipsum dolor sit amet '.repeat(70);

/** The body of request `i`: about 2 KB, so that 50,000 lines make about 100 MB. */
const body = (i: number) => JSON.stringify({ model: 'sim-model', max_tokens: 16, messages: [{ role: 'user', content: `${i} ${FILLER}` }] });
const inputLine = (i: number) => `{"custom_id":"req-${i}","method":"POST","url":"/v1/chat/completions","body":${body(i)}}\n`;

/** The upload as a multipart body produced while it is sent: the benchmark holds no copy of the file either. */
function multipartUpload(boundary: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(
        encoder.encode(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`,
        ),
      );
    },
    pull(controller) {
      if (next >= LINES) {
        controller.enqueue(
          encoder.encode(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}--\r\n`),
        );
        controller.close();
        return;
      }
      let text = '';
      for (let n = 0; n < 200 && next < LINES; n++) text += inputLine(++next);
      controller.enqueue(encoder.encode(text));
    },
  });
}

/** The rows ingest would insert, in COPY's text format (the bodies hold no tabs, newlines or backslashes). */
async function* copyRows(): AsyncGenerator<string> {
  for (let from = 1; from <= LINES; from += 200) {
    let text = '';
    for (let i = from; i < from + 200 && i <= LINES; i++) text += `batch_copy\t${i}\treq-${i}\tsim-model\t${body(i)}\t0\n`;
    yield text;
  }
}

/** Seconds for COPY of the same rows into `requests`, from the first row sent to the last one committed. */
async function copyReference(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const started = performance.now();
    const writable = await sql`copy requests (batch_id, line, custom_id, model, body, priority) from stdin`.writable();
    await pipeline(Readable.from(copyRows()), writable);
    const seconds = (performance.now() - started) / 1000;
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from requests where batch_id = 'batch_copy'`;
    if (row?.n !== LINES) throw new Error(`COPY stored ${row?.n} of ${LINES} rows`);
    // The gateway's run starts from an empty table too.
    await sql`truncate requests`;
    await sql`vacuum analyze requests`;
    return seconds;
  } finally {
    await sql.end();
  }
}

/** CPU seconds a process has used so far (user + system, Linux; clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** What the gateway's run took: the upload, then validation and queueing, timed apart. */
interface GatewayRun {
  uploadSeconds: number;
  validateSeconds: number;
  bytes: number;
  /** The gateway's peak RSS once the upload was stored, before validation started (MB). */
  uploadPeakMb: number;
  /** CPU seconds the gateway used while validating and queueing. */
  validateCpuSeconds: number;
}

/**
 * Uploads the file through the gateway, then creates the batch and times it from the
 * `POST /v1/batches` to the gateway's "batch validated" log line, which it writes once the
 * transaction that queued every request and moved the batch to `in_progress` has committed
 * (a poll of the batch would add up to its interval).
 */
async function gatewayIngest(gateway: Child, url: string): Promise<GatewayRun> {
  const boundary = 'vbs-bench-ingest';
  const started = performance.now();
  const uploaded = await fetch(`${url}/v1/files`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: multipartUpload(boundary),
    duplex: 'half',
  } as RequestInit);
  const file = (await uploaded.json()) as { id: string; bytes: number };
  if (uploaded.status !== 200) throw new Error(`the upload was refused: ${uploaded.status} ${JSON.stringify(file)}`);
  const uploadSeconds = (performance.now() - started) / 1000;
  const uploadPeakMb = peakRssMb(gateway.process.pid);
  const cpuBefore = cpuSeconds(gateway.process.pid);
  const submitted = performance.now();
  const created = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  const { id } = (await created.json()) as { id: string };
  if (created.status !== 200) throw new Error(`the batch was refused: ${created.status}`);
  const [, outcome] = await gateway.waitFor(
    new RegExp(`"msg":"(batch validated|batch input is invalid)"[^\\n]*"batch_id":"${id}"`),
    600_000,
  );
  const validateSeconds = (performance.now() - submitted) / 1000;
  const validateCpuSeconds = cpuSeconds(gateway.process.pid) - cpuBefore;
  const batch = (await (await fetch(`${url}/v1/batches/${id}`)).json()) as {
    status: string;
    request_counts: { total: number };
    errors?: unknown;
  };
  if (outcome !== 'batch validated' || batch.status !== 'in_progress')
    throw new Error(`the batch ended ${batch.status}: ${JSON.stringify(batch.errors)}`);
  if (batch.request_counts.total !== LINES) throw new Error(`the batch holds ${batch.request_counts.total} of ${LINES} requests`);
  return { uploadSeconds, validateSeconds, bytes: file.bytes, uploadPeakMb, validateCpuSeconds };
}

const scratch = await createScratchDatabase(NAME);
let gateway: Child | undefined;
try {
  say(NAME, `COPY of ${LINES} rows into requests`);
  const copySeconds = await copyReference(scratch.url);
  gateway = spawnBun(['gateway/entry/bun.ts'], { DATABASE_URL: scratch.url, PORT: '0', LOG_LEVEL: 'info' });
  const [, url] = (await gateway.waitFor(/"url":"(http:[^"]+)"/)) as unknown as [string, string];
  const pid = gateway.process.pid;
  const baseline = peakRssMb(pid);
  say(NAME, `a Bun gateway stores, then validates and queues a ${LINES}-line file`);
  const ingest = await gatewayIngest(gateway, url);
  const peak = peakRssMb(pid);
  const ratio = ingest.validateSeconds / copySeconds;
  report({
    name: NAME,
    title: 'Ingest',
    result: { value: round(ingest.validateSeconds, 2), unit: 's', label: 'validate + queue of the stored file (Bun gateway)' },
    reference: { value: round(copySeconds, 2), unit: 's', label: 'COPY of the same rows' },
    ratio: round(ratio, 2),
    goal: `≤ 2.0, peak < ${MAX_PEAK_MB} MB`,
    pass: ratio <= 2 && peak < MAX_PEAK_MB,
    details: {
      lines: LINES,
      'file MB': round(ingest.bytes / 1e6, 1),
      'validate + queue seconds (POST /v1/batches to in_progress committed)': round(ingest.validateSeconds, 2),
      'gateway CPU seconds while validating and queueing': round(ingest.validateCpuSeconds, 2),
      'upload seconds (POST /v1/files, not in the ratio)': round(ingest.uploadSeconds, 2),
      'upload + validate + queue seconds': round(ingest.uploadSeconds + ingest.validateSeconds, 2),
      'gateway peak RSS (MB)': round(peak),
      'gateway peak RSS after the upload (MB)': round(ingest.uploadPeakMb),
      'gateway RSS after start-up (MB)': round(baseline),
    },
  });
} finally {
  await gateway?.stop();
  await scratch.drop();
}
