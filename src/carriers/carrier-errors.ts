/**
 * Carrier REST failures as gateway errors that say what happened: the carrier refused (its status,
 * its own error code and message), could not be reached, or did not answer in time. Call control
 * puts the `carrier` detail in the HTTP answer so a caller of our API sees Twilio's or Telnyx's reason.
 */
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';

import type { CarrierName } from './carrier-name.js';

export type { CarrierName };

export interface CarrierErrorDetail {
  readonly name: CarrierName;
  /** What we asked: dial, hangup, send_dtmf, answer. */
  readonly op: string;
  /** HTTP status the carrier answered with, when it answered. */
  readonly status?: number;
  /** The carrier's own error code (Twilio 21211, Telnyx "10015"). */
  readonly code?: string;
  readonly message: string;
}

export class CarrierCallError extends GatewayError {
  readonly carrier: CarrierErrorDetail;

  constructor(code: ErrorCode, carrier: CarrierErrorDetail, options?: { cause?: unknown }) {
    const where = `${carrier.name} ${carrier.op}`;
    const status = carrier.status === undefined ? '' : ` answered ${String(carrier.status)}`;
    const own = carrier.code === undefined ? '' : ` (${carrier.code})`;
    super(code, `${where}${status}${own}: ${carrier.message}`, options);
    this.carrier = carrier;
  }
}

/** Reject with GW_ERR_CALL_CARRIER_TIMEOUT if `work` has not settled within `timeoutMs`. */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, carrier: CarrierName, op: string, abort?: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort?.abort();
      reject(new CarrierCallError('GW_ERR_CALL_CARRIER_TIMEOUT', { name: carrier, op, message: `no answer within ${String(timeoutMs)} ms` }));
    }, timeoutMs);
  });
  // The losing promise must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** Walk `cause` chains for a Node network error code. */
export function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || TIMEOUT_CODES.has(e.code))) return e.code;
  }
  return undefined;
}

/**
 * A failed carrier request as a metric label (the `outcome` of voice_gateway call-control counts and
 * the `status` of Telnyx command counts): the one mapping of our carrier error codes.
 */
export type CarrierErrorOutcome = 'rejected' | 'timeout' | 'unreachable' | 'not_configured' | 'error';

export function carrierErrorOutcome(err: unknown): CarrierErrorOutcome {
  if (!isGatewayError(err)) return 'error';
  switch (err.code) {
    case 'GW_ERR_CALL_CARRIER_REJECTED':
      return 'rejected';
    case 'GW_ERR_CALL_CARRIER_TIMEOUT':
      return 'timeout';
    case 'GW_ERR_CALL_CARRIER_UNREACHABLE':
      return 'unreachable';
    case 'GW_ERR_CALL_CARRIER_NOT_CONFIGURED':
      return 'not_configured';
    default:
      return 'error';
  }
}

export function isTimeoutCode(code: string | undefined): boolean {
  return code !== undefined && TIMEOUT_CODES.has(code);
}
