import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { BUN, start, type Running } from '../helpers/processes.ts';

const LINES = 50_000;
/**
 * Generous on purpose (the machine and the garbage collector are noisy): measured peaks are
 * 199-243 MB from a baseline of about 88 MB (docs/api.md). A file held whole, or read back
 * whole for validation, adds 100 MB or more and fails this.
 */
const MAX_PEAK_RSS_MB = 320;

/** A request line of about 2 KB, so that 50,000 of them make about 100 MB. */
function requestLine(i: number): string {
  const filler = 'lorem ipsum dolor sit amet '.repeat(70);
  return `${JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'sim-model', max_tokens: 16, messages: [{ role: 'user', content: `${i} ${filler}` }] } })}\n`;
}

/** A multipart upload of the generated file, produced as it is sent (the test holds no copy either). */
function multipartUpload(boundary: string): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = -1;
  return new ReadableStream({
    pull(controller) {
      if (i === -1)
        controller.enqueue(encoder.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n`));
      else if (i < LINES) {
        let text = '';
        for (let n = 0; n < 200 && i < LINES; n++, i++) text += requestLine(i);
        controller.enqueue(encoder.encode(text));
        return;
      } else {
        controller.enqueue(
          encoder.encode(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}--\r\n`),
        );
        controller.close();
      }
      i++;
    },
  });
}

const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

describe('a 50,000-line upload to a Bun gateway', () => {
  const test = useTestDatabase();
  let gateway: Running | undefined;
  afterAll(async () => {
    await gateway?.stop();
  });

  it(`is stored and validated with the gateway's peak memory under ${MAX_PEAK_RSS_MB} MB`, { timeout: 240_000 }, async () => {
    gateway = start(BUN, ['gateway/entry/bun.ts'], { env: { DATABASE_URL: test().url, PORT: '0', LOG_LEVEL: 'info' } });
    const [, url] = await gateway.waitFor(/"url":"(http:[^"]+)"/);
    const boundary = 'vbs-memory-test';
    const baseline = peakRssMb(gateway.child.pid!);
    const uploaded = await fetch(`${url}/v1/files`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: multipartUpload(boundary),
      duplex: 'half',
    } as RequestInit);
    const file = (await uploaded.json()) as { id: string; bytes: number };
    expect(uploaded.status, JSON.stringify(file)).toBe(200);
    expect(file.bytes).toBeGreaterThan(100_000_000);
    const created = await fetch(`${url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    });
    const { id } = (await created.json()) as { id: string };
    await gateway.waitFor(/"msg":"batch validated"/, 180_000);
    const batch = (await (await fetch(`${url}/v1/batches/${id}`)).json()) as { status: string; request_counts: { total: number } };
    expect(batch).toMatchObject({ status: 'in_progress', request_counts: { total: LINES } });
    const peak = peakRssMb(gateway.child.pid!);
    console.log(
      `gateway peak RSS (VmHWM): ${baseline.toFixed(0)} MB at start, ${peak.toFixed(0)} MB after a ${(file.bytes / 1e6).toFixed(0)} MB, ${LINES}-line upload and its validation`,
    );
    expect(peak).toBeLessThan(MAX_PEAK_RSS_MB);
  });
});
