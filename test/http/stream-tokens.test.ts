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
