import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, GatewayError, isGatewayError, type ErrorCode } from '../../src/errors.js';

const codes = Object.keys(ERRORS) as ErrorCode[];
const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('error list', () => {
  it('uses the GW_ERR_<AREA>_<WHAT> shape for every code', () => {
    for (const code of codes) expect(code).toMatch(/^GW_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
  });

  it('has a unique message per code', () => {
    const messages = codes.map((c) => ERRORS[c].message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  it.each(codes)('documents %s in docs/errors.md', (code) => {
    expect(doc).toContain(`\`${code}\``);
  });

  it('documents no code that does not exist', () => {
    const documented = [...doc.matchAll(/`(GW_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]);
    for (const code of documented) expect(codes).toContain(code);
  });

  it('keeps code, retryable, status and cause on the error', () => {
    const cause = new Error('socket reset');
    const err = new GatewayError('GW_ERR_PROVIDER_CONNECT', 'openai', { cause });
    expect(err.code).toBe('GW_ERR_PROVIDER_CONNECT');
    expect(err.retryable).toBe(true);
    expect(err.cause).toBe(cause);
    expect(err.message).toBe('provider connection failed: openai');
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_CONNECT')).toBe(true);
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_AUTH')).toBe(false);
    expect(new GatewayError('GW_ERR_HTTP_BAD_SIGNATURE').statusCode).toBe(403);
  });
});
