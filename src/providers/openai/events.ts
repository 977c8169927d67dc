/**
 * Reading what the OpenAI Realtime server sends: which event types exist, how its errors map to our
 * codes, and how an audio delta is checked before it becomes a frame. Pure functions.
 */
import { GatewayError, type ErrorCode } from '../../errors.js';
import { decodeBase64Exact } from '../../util/base64.js';
import { classifyUpgradeFailure } from '../ws-errors.js';

/**
 * Server event types of the GA protocol (openai-node 6.x `RealtimeServerEvent`). Anything else is
 * reported as a protocol error, once per type and session.
 */
export const KNOWN_SERVER_EVENTS: ReadonlySet<string> = new Set([
  'conversation.created',
  'conversation.item.added',
  'conversation.item.created',
  'conversation.item.deleted',
  'conversation.item.done',
  'conversation.item.input_audio_transcription.completed',
  'conversation.item.input_audio_transcription.delta',
  'conversation.item.input_audio_transcription.failed',
  'conversation.item.input_audio_transcription.segment',
  'conversation.item.retrieved',
  'conversation.item.truncated',
  'error',
  'input_audio_buffer.cleared',
  'input_audio_buffer.committed',
  'input_audio_buffer.dtmf_event_received',
  'input_audio_buffer.speech_started',
  'input_audio_buffer.speech_stopped',
  'input_audio_buffer.timeout_triggered',
  'mcp_list_tools.completed',
  'mcp_list_tools.failed',
  'mcp_list_tools.in_progress',
  'output_audio_buffer.cleared',
  'output_audio_buffer.started',
  'output_audio_buffer.stopped',
  'rate_limits.updated',
  'response.content_part.added',
  'response.content_part.done',
  'response.created',
  'response.done',
  'response.function_call_arguments.delta',
  'response.function_call_arguments.done',
  'response.mcp_call.completed',
  'response.mcp_call.failed',
  'response.mcp_call.in_progress',
  'response.mcp_call_arguments.delta',
  'response.mcp_call_arguments.done',
  'response.output_audio.delta',
  'response.output_audio.done',
  'response.output_audio_transcript.delta',
  'response.output_audio_transcript.done',
  'response.output_item.added',
  'response.output_item.done',
  'response.output_text.delta',
  'response.output_text.done',
  'session.created',
  'session.updated',
]);

/** The `error` object of a server `error` event, or of a failed response's status details. */
export interface RemoteError {
  readonly type?: string | null;
  readonly code?: string | null;
  readonly message?: string | null;
}

const AUTH_CODES = new Set(['invalid_api_key', 'invalid_authentication', 'unauthorized', 'forbidden']);
const QUOTA_CODES = new Set(['insufficient_quota', 'rate_limit_exceeded', 'billing_hard_limit_reached']);
/** Codes after which the session cannot go on. */
const FATAL_CODES = new Set(['session_expired', 'session_closed']);
/**
 * Races no client can avoid, and that change nothing: a cancel for a response that has just finished
 * on the server (its `response.done` is on the wire). Logged, not surfaced.
 */
export const BENIGN_CODES: ReadonlySet<string> = new Set(['response_cancel_not_active']);

export function codeOfRemote(err: RemoteError): ErrorCode {
  const code = err.code ?? '';
  const type = err.type ?? '';
  if (AUTH_CODES.has(code) || type === 'authentication_error') return 'GW_ERR_PROVIDER_AUTH';
  if (QUOTA_CODES.has(code) || type === 'insufficient_quota' || type === 'rate_limit_error') return 'GW_ERR_PROVIDER_QUOTA';
  return 'GW_ERR_PROVIDER_REMOTE';
}

export function isFatalRemote(err: RemoteError): boolean {
  return codeOfRemote(err) !== 'GW_ERR_PROVIDER_REMOTE' || FATAL_CODES.has(err.code ?? '');
}

/**
 * Errors that are the server refusing one of OUR requests (a second response.create while one is
 * active, a truncate past the audio, an unknown field): `invalid_request_error` that is not about the
 * key or the quota. Our bug, not the provider's failure: logged, never a failover or a breaker count.
 */
export function isRequestRejection(err: RemoteError): boolean {
  return err.type === 'invalid_request_error' && codeOfRemote(err) === 'GW_ERR_PROVIDER_REMOTE' && !FATAL_CODES.has(err.code ?? '');
}

/**
 * A close that says why. 3000 is "Unauthorized" and 3003 "Forbidden" in the IANA WebSocket close code
 * registry (iana.org/assignments/websocket: 3000-3999 are registered for libraries and frameworks);
 * the Realtime server closes 3000 with reason `invalid_api_key` for a bad key, sometimes before any
 * `error` event, so the close alone must classify it.
 */
export function codeOfClose(code: number, reason: string): ErrorCode | undefined {
  if (code === 3000 || code === 3003 || /invalid_api_key|invalid_authentication|unauthori[sz]ed/i.test(reason)) return 'GW_ERR_PROVIDER_AUTH';
  if (/insufficient_quota|rate_limit/i.test(reason)) return 'GW_ERR_PROVIDER_QUOTA';
  return undefined;
}

/** A failed WebSocket upgrade: 401/403 AUTH, 429 QUOTA, else CONNECT (the shared mapping, ../ws-errors.ts). */
export function codeOfHandshakeFailure(message: string): { code: ErrorCode; status: number | undefined } {
  return classifyUpgradeFailure(message);
}

/**
 * Decode a base64 audio delta, strictly: Node's decoder skips characters it does not know, which
 * would turn a corrupt delta into plausible-looking noise.
 */
export function decodeAudioDelta(delta: unknown, bytesPerSample: 1 | 2): Uint8Array {
  // An empty delta carries no audio; it was always accepted and stays so.
  const bytes = typeof delta !== 'string' ? undefined : delta === '' ? Buffer.alloc(0) : decodeBase64Exact(delta);
  if (!bytes) throw new GatewayError('GW_ERR_PROVIDER_PROTOCOL', 'audio delta is not valid base64');
  if (bytesPerSample === 2 && bytes.length % 2 !== 0) {
    throw new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `PCM16 audio delta has an odd byte count (${String(bytes.length)})`);
  }
  return bytes;
}

/** Replace every occurrence of a secret in text the provider or a library produced (../../util/redact.ts). */
export { redactSecret as redact } from '../../util/redact.js';
