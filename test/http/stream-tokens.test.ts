import { describe, expect, it } from 'vitest';
import { StreamTokens } from '../../src/http/security/stream-tokens.js';

describe('stream tokens', () => {
  it('are one-time and bound to the call they were issued for', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue('CA1');
    expect(tokens.consume(t, 'CA2')).toBeUndefined(); // wrong call spends it too: a guessed pairing gets no second try
    const u = tokens.issue('CA1');
    expect(tokens.consume(u, 'CA1')).toEqual({});
    expect(tokens.consume(u, 'CA1')).toBeUndefined();
    expect(tokens.consume(undefined, 'CA1')).toBeUndefined();
    expect(tokens.consume('made-up', 'CA1')).toBeUndefined();
    const v = tokens.issue('CA9', { callId: 'ours-1', direction: 'outbound', provider: 'echo' });
    expect(tokens.consume(v, 'CA9')).toEqual({ callId: 'ours-1', direction: 'outbound', provider: 'echo' });
  });

  it('expire', () => {
    let now = 0;
    const tokens = new StreamTokens({ ttlMs: 1000, now: () => now });
    const t = tokens.issue('CA1');
    now = 1001;
    expect(tokens.peek(t)).toBe(false);
    expect(tokens.consume(t, 'CA1')).toBeUndefined();
  });

  it('issued for no particular call accept any call id once', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue();
    expect(tokens.peek(t)).toBe(true);
    expect(tokens.consume(t, 'anything')).toEqual({});
    expect(tokens.peek(t)).toBe(false);
  });
});

describe('stream tokens bound to a transport, spent at upgrade', () => {
  it('a Twilio-issued token is refused (and spent) on the Telnyx route', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue('CA1', { transport: 'twilio' });
    expect(tokens.take(t, 'telnyx')).toEqual({ ok: false, reason: 'wrong_transport' });
    expect(tokens.consume(t, 'CA1', 'twilio')).toBeUndefined();
    const u = tokens.issue('CA1', { transport: 'twilio' });
    expect(tokens.consume(u, 'CA1', 'telnyx')).toBeUndefined();
    const v = tokens.issue('CA1', { transport: 'twilio' });
    expect(tokens.consume(v, 'CA1', 'twilio')).toEqual({ transport: 'twilio' });
  });

  it('a grant without a transport opens no carrier media route', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    expect(tokens.take(tokens.issue('webrtc-session'), 'telnyx')).toEqual({ ok: false, reason: 'wrong_transport' });
  });

  it('take spends the token at once: one token, one socket', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue('v3:a', { transport: 'telnyx', leg: 'call_control' });
    expect(tokens.take(t, 'telnyx')).toEqual({ ok: true, carrierCallId: 'v3:a', info: { transport: 'telnyx', leg: 'call_control' } });
    for (let i = 0; i < 300; i++) expect(tokens.take(t, 'telnyx')).toEqual({ ok: false, reason: 'unknown' });
    expect(tokens.take(undefined, 'telnyx')).toEqual({ ok: false, reason: 'missing' });
  });

  it('an expired token says which call it was for (so its leg can be hung up)', () => {
    let now = 0;
    const tokens = new StreamTokens({ ttlMs: 1000, now: () => now });
    const t = tokens.issue('v3:b', { transport: 'telnyx', leg: 'call_control' });
    now = 2000;
    expect(tokens.take(t, 'telnyx')).toMatchObject({ ok: false, reason: 'expired', carrierCallId: 'v3:b', info: { leg: 'call_control' } });
  });

  it('redacts tokens from URLs in the path and the query', async () => {
    const { redactStreamTokens } = await import('../../src/http/security/stream-tokens.js');
    expect(redactStreamTokens('/telnyx/media/abcDEF_123-x')).toBe('/telnyx/media/[redacted]');
    expect(redactStreamTokens('/telnyx/media?token=abc&x=1')).toBe('/telnyx/media?token=[redacted]&x=1');
    expect(redactStreamTokens('/telnyx/media/abc?token=def')).toBe('/telnyx/media/[redacted]?token=[redacted]');
    expect(redactStreamTokens('/health')).toBe('/health');
  });
});
