/**
 * The one list of error codes. Every error the gateway raises on purpose is a GatewayError with a
 * stable `code` from this table; `retryable` says whether trying again can help. The table is pinned
 * by a test that also checks each code is documented in docs/errors.md.
 */

export interface ErrorSpec {
  readonly message: string;
  readonly retryable: boolean;
  readonly statusCode?: number;
}

export const ERRORS = {
  // Audio core
  GW_ERR_AUDIO_ODD_LENGTH: { message: 'PCM16 byte buffer has an odd length', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_EMPTY_FRAME: { message: 'audio frame is empty', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_UNSUPPORTED_RATE: { message: 'unsupported sample rate', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_UNSUPPORTED_CODEC: { message: 'unsupported codec', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_BAD_WAV: { message: 'not a readable PCM WAV file', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_BAD_INPUT: { message: 'audio input is not valid', retryable: false, statusCode: 400 },
  GW_ERR_AUDIO_OPUS: { message: 'Opus encode or decode failed', retryable: false },
  // Voice activity detection
  GW_ERR_VAD_MODEL_NOT_FOUND: { message: 'Silero VAD model file not found', retryable: false },
  GW_ERR_VAD_INFERENCE: { message: 'VAD inference failed', retryable: true },
  GW_ERR_VAD_BAD_WINDOW: { message: 'VAD window has the wrong size', retryable: false },
  // Worker pool
  GW_ERR_WORKER_TASK_FAILED: { message: 'worker task failed', retryable: true },
  GW_ERR_WORKER_POOL_CLOSED: { message: 'worker pool is closed', retryable: false },
  // Configuration
  GW_ERR_CONFIG_INVALID: { message: 'invalid configuration', retryable: false },
  // CLI
  GW_ERR_CLI_USAGE: { message: 'invalid command-line usage', retryable: false },
  // HTTP edge
  GW_ERR_HTTP_BAD_SIGNATURE: { message: 'webhook signature is missing or invalid', retryable: false, statusCode: 403 },
  GW_ERR_HTTP_STALE_TIMESTAMP: { message: 'webhook timestamp is outside the tolerance window', retryable: false, statusCode: 403 },
  GW_ERR_HTTP_IP_NOT_ALLOWED: { message: 'source address is not in the allowlist', retryable: false, statusCode: 403 },
  GW_ERR_HTTP_BAD_REQUEST: { message: 'bad request', retryable: false, statusCode: 400 },
  GW_ERR_HTTP_UNAUTHORIZED: { message: 'missing or invalid API token', retryable: false, statusCode: 401 },
  GW_ERR_HTTP_TOO_MANY: { message: 'too many requests', retryable: true, statusCode: 429 },
  GW_ERR_HTTP_NOT_FOUND: { message: 'not found', retryable: false, statusCode: 404 },
  GW_ERR_HTTP_NOT_READY: { message: 'gateway is not ready', retryable: true, statusCode: 503 },
  // Media transports
  GW_ERR_TRANSPORT_BAD_JSON: { message: 'media message is not valid JSON', retryable: false },
  GW_ERR_TRANSPORT_BAD_BASE64: { message: 'media payload is not valid base64', retryable: false },
  GW_ERR_TRANSPORT_FRAME_TOO_LARGE: { message: 'media message exceeds the size limit', retryable: false },
  GW_ERR_TRANSPORT_UNKNOWN_EVENT: { message: 'unknown media event', retryable: false },
  GW_ERR_TRANSPORT_OUT_OF_ORDER: { message: 'media event arrived out of protocol order', retryable: false },
  GW_ERR_TRANSPORT_BAD_MESSAGE: { message: 'media message is missing required fields', retryable: false },
  GW_ERR_TRANSPORT_BAD_TOKEN: { message: 'media stream token is missing, unknown or already used', retryable: false, statusCode: 403 },
  GW_ERR_TRANSPORT_RATE_LIMITED: { message: 'media messages arrive faster than allowed', retryable: false },
  GW_ERR_TRANSPORT_BAD_SDP: { message: 'SDP offer is malformed or cannot be answered', retryable: false, statusCode: 400 },
  GW_ERR_TRANSPORT_TOO_MANY_SESSIONS: { message: 'too many WebRTC sessions', retryable: true, statusCode: 429 },
  GW_ERR_TRANSPORT_NEGOTIATION_FAILED: { message: 'WebRTC negotiation failed', retryable: true, statusCode: 503 },
  GW_ERR_TRANSPORT_BAD_SESSION_TOKEN: { message: 'browser session token is missing, unknown, expired or already used', retryable: false, statusCode: 403 },
  // Carrier REST APIs
  GW_ERR_CARRIER_API: { message: 'carrier API request failed', retryable: true, statusCode: 502 },
  // Providers
  GW_ERR_PROVIDER_CONNECT: { message: 'provider connection failed', retryable: true },
  GW_ERR_PROVIDER_AUTH: { message: 'provider rejected the credentials', retryable: false },
  GW_ERR_PROVIDER_CLOSED: { message: 'provider session is closed', retryable: true },
  GW_ERR_PROVIDER_UNKNOWN: { message: 'unknown provider', retryable: false, statusCode: 400 },
  GW_ERR_CALL_SWITCH_CONFLICT: { message: 'the call cannot switch provider now', retryable: true, statusCode: 409 },
  GW_ERR_PROVIDER_BREAKER_OPEN: { message: 'provider circuit breaker is open', retryable: true, statusCode: 503 },
  GW_ERR_PROVIDER_TIMEOUT: { message: 'provider did not answer in time', retryable: true },
  GW_ERR_PROVIDER_PROTOCOL: { message: 'provider sent something we cannot use', retryable: true },
  GW_ERR_PROVIDER_REMOTE: { message: 'provider reported an error', retryable: true },
  GW_ERR_PROVIDER_QUOTA: { message: 'provider quota or rate limit exhausted', retryable: false },
  // Calls and records
  GW_ERR_CALL_NOT_FOUND: { message: 'no call with this id', retryable: false, statusCode: 404 },
  GW_ERR_CALL_NOT_LIVE: { message: 'the call is not live', retryable: false, statusCode: 409 },
  GW_ERR_CALL_BAD_NUMBER: { message: 'phone number is not in E.164 form', retryable: false, statusCode: 400 },
  GW_ERR_CALL_BAD_DIGITS: { message: 'DTMF digits are not valid', retryable: false, statusCode: 400 },
  GW_ERR_CALL_BAD_REQUEST: { message: 'call request is not valid', retryable: false, statusCode: 400 },
  GW_ERR_CALL_BAD_CURSOR: { message: 'listing cursor is not valid', retryable: false, statusCode: 400 },
  GW_ERR_CALL_CARRIER_NOT_CONFIGURED: { message: 'the carrier is not configured for call control', retryable: false, statusCode: 503 },
  GW_ERR_CALL_CARRIER_REJECTED: { message: 'the carrier API refused the request', retryable: false, statusCode: 502 },
  GW_ERR_CALL_CARRIER_UNREACHABLE: { message: 'the carrier API could not be reached', retryable: true, statusCode: 502 },
  GW_ERR_CALL_CARRIER_TIMEOUT: { message: 'the carrier API did not answer in time', retryable: true, statusCode: 504 },
  GW_ERR_STORE_OPEN: { message: 'the call record store cannot be opened', retryable: false },
  GW_ERR_STORE_SCHEMA: { message: 'the call record store has a newer schema than this gateway knows', retryable: false },
  GW_ERR_STORE_WRITE: { message: 'a call record could not be written', retryable: true, statusCode: 500 },
  // Shared stores (several nodes)
  GW_ERR_GRANTS_UNAVAILABLE: { message: 'the shared stream grant store (Redis) cannot be reached', retryable: true, statusCode: 503 },
  GW_ERR_CLUSTER_NODE_UNREACHABLE: { message: 'the gateway node holding this call cannot be reached', retryable: true, statusCode: 502 },
  GW_ERR_CLUSTER_UNAUTHORIZED: { message: 'missing or invalid cluster secret', retryable: false, statusCode: 401 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly statusCode: number | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.retryable = spec.retryable;
    this.statusCode = spec.statusCode;
  }
}

export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}
