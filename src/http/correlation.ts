/** Correlation IDs: taken from the caller when sane (so a trace crosses systems), else a new UUID. */
import { randomUUID } from 'node:crypto';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

export const CORRELATION_HEADER = 'x-correlation-id';

export function correlationIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE.test(value) ? value : randomUUID();
}
