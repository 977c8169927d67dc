/**
 * A provider WebSocket whose upgrade the server refused: ws reports it only as the message
 * `Unexpected server response: <status>` (ws/lib/websocket.js, `abortHandshake` on an upgrade answer
 * that is not 101), and the SDKs pass that text on. Every provider maps it the same way; only which
 * statuses mean "bad key" or "no quota" differs by service, so each passes its own table.
 */
import type { ErrorCode } from '../errors.js';

export interface UpgradeStatusCodes {
  /** Statuses that mean the credentials are wrong (no retry can help). */
  readonly auth: readonly number[];
  /** Statuses that mean rate limited or out of credit (no retry now can help). */
  readonly quota: readonly number[];
}

/** What most services answer: 401/403 for a bad or unauthorised key, 429 for rate limits and quota. */
export const UPGRADE_STATUS_CODES: UpgradeStatusCodes = { auth: [401, 403], quota: [429] };

/** The HTTP status of a refused upgrade, from ws's error message; undefined for any other failure. */
export function upgradeStatusOf(message: string): number | undefined {
  const m = /Unexpected server response: (\d{3})/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** Our error code for a refused upgrade's status (undefined status: the connection failed before an answer). */
export function codeOfUpgradeStatus(status: number | undefined, codes: UpgradeStatusCodes = UPGRADE_STATUS_CODES): ErrorCode {
  if (status !== undefined && codes.auth.includes(status)) return 'GW_ERR_PROVIDER_AUTH';
  if (status !== undefined && codes.quota.includes(status)) return 'GW_ERR_PROVIDER_QUOTA';
  return 'GW_ERR_PROVIDER_CONNECT';
}

/** Both at once: the code and the status (if the server answered at all). */
export function classifyUpgradeFailure(message: string, codes: UpgradeStatusCodes = UPGRADE_STATUS_CODES): { code: ErrorCode; status: number | undefined } {
  const status = upgradeStatusOf(message);
  return { code: codeOfUpgradeStatus(status, codes), status };
}
