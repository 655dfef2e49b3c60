import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, webhookHeaders, WebhookVerificationError } from '../../handlers/sdk/index.ts';

const secret = 'a-secret-of-some-length';
const body = '{"type":"batch.completed","data":{"n":1}}';
const now = 1_800_000_000;
const headers = webhookHeaders({ secret, id: 'msg_1', timestamp: now, body });

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('webhook signatures', () => {
  it('accepts the exact body it signed and returns it parsed', () => {
    expect(verifyWebhook({ secret, headers, body, now })).toEqual({ type: 'batch.completed', data: { n: 1 } });
    expect(verifyWebhook({ secret, headers: new Headers(headers), body: new TextEncoder().encode(body), now })).toBeTruthy();
  });

  it('fails a tampered body, another secret, or a changed id', () => {
    expect(reason(() => verifyWebhook({ secret, headers, body: body.replace('1', '2'), now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook({ secret: 'another-secret-entirely', headers, body, now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-id': 'msg_2' }, body, now }))).toBe('bad_signature');
  });

  it('fails a request outside the tolerance, and one without headers', () => {
    expect(reason(() => verifyWebhook({ secret, headers, body, now: now + 301 }))).toBe('too_old');
    expect(reason(() => verifyWebhook({ secret, headers, body, now: now - 301 }))).toBe('too_new');
    expect(reason(() => verifyWebhook({ secret, headers: {}, body, now }))).toBe('missing_headers');
  });

  it('accepts any of several signatures, for secret rotation', () => {
    const rotated = { ...headers, 'webhook-signature': `v1,AAAA ${headers['webhook-signature']}` };
    expect(verifyWebhook({ secret, headers: rotated, body, now })).toBeTruthy();
  });

  it('decodes whsec_ secrets as Standard Webhooks does', () => {
    const key = `whsec_${Buffer.from('raw key bytes').toString('base64')}`;
    const signature = signWebhook({ secret: key, id: 'msg_1', timestamp: now, body });
    expect(signature).toBe(signWebhook({ secret: 'raw key bytes', id: 'msg_1', timestamp: now, body }));
  });

  it('refuses an empty key rather than accepting requests anyone can sign', () => {
    // What a receiver gets from `process.env.WEBHOOK_SECRET ?? ''`, or a whsec_ secret that is not base64.
    for (const weak of ['', 'whsec_', 'whsec_!!!!!!!!!!!!!!!!!!!!']) {
      const forged = {
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(now),
        'webhook-signature': `v1,${createHmac('sha256', Buffer.alloc(0)).update(`msg_forged.${now}.${body}`).digest('base64')}`,
      };
      expect(() => verifyWebhook({ secret: weak, headers: forged, body, now }), JSON.stringify(weak)).toThrow('secret');
      expect(() => signWebhook({ secret: weak, id: 'msg_1', timestamp: now, body }), JSON.stringify(weak)).toThrow('secret');
    }
  });
});
