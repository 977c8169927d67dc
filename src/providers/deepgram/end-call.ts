/**
 * The `end_call` function for the Deepgram agent (END_CALL_TOOL=1), the same name and arguments the
 * OpenAI adapter declares. No `endpoint`: Deepgram then asks the client to run it
 * (`FunctionCallRequest` with `client_side: true`). `defer_until_eot`: a call that hangs up cannot be
 * undone, and Deepgram's function-call guide sets it on its own end_call example for that reason
 * (https://developers.deepgram.com/docs/build-a-function-call).
 */
import type { ThinkSettingsV1 } from '@deepgram/sdk';

export const END_CALL_NAME = 'end_call';

export const END_CALL_FUNCTION: ThinkSettingsV1.Functions.Item = {
  name: END_CALL_NAME,
  description: 'End the phone call. Call this only after you have said goodbye, when the caller is done or asks to hang up.',
  parameters: {
    type: 'object',
    properties: { reason: { type: 'string', description: 'Why the call ends, in a few words.' } },
  },
  defer_until_eot: true,
};

/** The reason the model gave, if its arguments parse; garbled arguments do not change that it wants to hang up. */
export function endCallReason(args: unknown): string {
  if (typeof args === 'string') {
    try {
      const parsed: unknown = JSON.parse(args);
      const reason = typeof parsed === 'object' && parsed !== null ? (parsed as { reason?: unknown }).reason : undefined;
      if (typeof reason === 'string' && reason.trim() !== '') return reason.slice(0, 200);
    } catch {
      // fall through
    }
  }
  return 'provider_goodbye';
}
