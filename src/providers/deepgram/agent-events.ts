/**
 * Pure helpers for the Voice Agent's server messages: which error codes mean what to us, and the
 * message types we know (from the SDK's `V1Socket.Response` union and
 * https://developers.deepgram.com/docs/voice-agent-outputs). Anything else is a protocol error.
 */
import type { ErrorCode } from '../../errors.js';

/** Server messages we read or deliberately ignore. */
export const KNOWN_AGENT_MESSAGES = new Set([
  'Welcome',
  'SettingsApplied',
  'ConversationText',
  'UserStartedSpeaking',
  'AgentThinking',
  'AgentStartedSpeaking',
  'AgentAudioDone',
  'FunctionCallRequest',
  'FunctionCallResponse',
  'FunctionCallCancelled',
  'Error',
  'Warning',
  'History',
  'InjectionRefused',
  'LatencyReport',
  'PromptUpdated',
  'SpeakUpdated',
  'ThinkUpdated',
  'ListenUpdated',
]);

/**
 * An in-band `Error` ends the session ("Treat every Error as a session-ending event",
 * https://developers.deepgram.com/docs/voice-agent-errors-warnings). A bad key or an empty balance
 * is refused at the handshake (HTTP 401/402/429, mapped in socket.ts); codes that still say so in
 * band are treated the same, so the breaker opens at once.
 */
export function codeOfAgentError(code: string): ErrorCode {
  const c = code.toUpperCase();
  if (/AUTH|UNAUTHORI[SZ]ED|FORBIDDEN|INVALID_KEY|PERMISSION/.test(c)) return 'GW_ERR_PROVIDER_AUTH';
  if (/CREDIT|QUOTA|RATE_LIMIT|BALANCE|PAYMENT|TOO_MANY/.test(c)) return 'GW_ERR_PROVIDER_QUOTA';
  return 'GW_ERR_PROVIDER_REMOTE';
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
