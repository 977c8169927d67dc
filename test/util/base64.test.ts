/**
 * decodeBase64Exact replaced an anchored regular expression on the hot path. The regex is kept here
 * as the oracle: for any text over the base64 alphabet plus the characters Node skips or takes
 * silently (URL-safe '-' '_', whitespace, junk, padding in the wrong place), both give the same verdict,
 * and where both accept, the bytes are Node's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64Exact } from '../../src/util/base64.js';

const ORACLE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CHARS = [...'ABCQRgwz09+/=-_ *\n.'];

describe('decodeBase64Exact', () => {
  it('accepts exactly what the strict regex accepts, on random text over a hostile alphabet', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: 24 }), (chars) => {
        const text = chars.join('');
        const got = decodeBase64Exact(text);
        expect(got !== undefined).toBe(ORACLE.test(text));
        if (got) expect(got).toEqual(Buffer.from(text, 'base64'));
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), (bytes) => {
        expect(decodeBase64Exact(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it.each([
    ['empty', ''],
    ['unpadded', 'QUJ'],
    ['padding inside', 'QQ==QUJD'],
    ['only padding', '===='],
    ['URL-safe alphabet', 'ab-_'],
    ['whitespace', 'QU JD'],
    ['junk', 'QUJ*'],
  ])('refuses %s', (_what, text) => {
    expect(decodeBase64Exact(text)).toBeUndefined();
  });
});
