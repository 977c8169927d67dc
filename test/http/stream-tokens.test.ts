import { describe, expect, it } from 'vitest';
import { StreamTokens } from '../../src/http/security/stream-tokens.js';

describe('stream tokens', () => {
  it('are one-time and bound to the call they were issued for', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue('CA1');
    expect(tokens.consume(t, 'CA2')).toBe(false); // wrong call spends it too: a guessed pairing gets no second try
    const u = tokens.issue('CA1');
    expect(tokens.consume(u, 'CA1')).toBe(true);
    expect(tokens.consume(u, 'CA1')).toBe(false);
    expect(tokens.consume(undefined, 'CA1')).toBe(false);
    expect(tokens.consume('made-up', 'CA1')).toBe(false);
  });

  it('expire', () => {
    let now = 0;
    const tokens = new StreamTokens({ ttlMs: 1000, now: () => now });
    const t = tokens.issue('CA1');
    now = 1001;
    expect(tokens.peek(t)).toBe(false);
    expect(tokens.consume(t, 'CA1')).toBe(false);
  });

  it('issued for no particular call accept any call id once', () => {
    const tokens = new StreamTokens({ ttlMs: 1000 });
    const t = tokens.issue();
    expect(tokens.peek(t)).toBe(true);
    expect(tokens.consume(t, 'anything')).toBe(true);
    expect(tokens.peek(t)).toBe(false);
  });
});
