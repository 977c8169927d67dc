/**
 * What the OpenAI Realtime adapter sends to set a session up (GA shape): the audio formats for a call,
 * the `session.update` body and the history items a failover carries over. Pure functions, so the
 * exact wire contents are easy to test and to read in one place.
 */
import type {
  ConversationItemCreateEvent,
  RealtimeAudioFormats,
  RealtimeAudioInputTurnDetection,
  RealtimeSessionCreateRequest,
  SessionUpdateEvent,
} from 'openai/resources/realtime/realtime';
import { GatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import type { ConversationTurn } from '../types.js';

export type TurnDetectionMode = 'none' | 'server_vad' | 'semantic_vad';

/** The model that transcribes the caller, so user transcripts come back for the record and for failover. */
export const TRANSCRIPTION_MODEL = 'gpt-4o-mini-transcribe';

/** G.711 passes straight through for telephony; anything else is PCM16 at the one rate the API takes. */
export const INPUT_FORMATS: readonly AudioFormat[] = [
  { codec: 'mulaw', sampleRate: 8000 },
  { codec: 'alaw', sampleRate: 8000 },
  { codec: 'pcm16', sampleRate: 24000 },
];

const PCM24K: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };

/** Our format as the API names it. Throws for a format the API does not take. */
export function wireFormatOf(format: AudioFormat): RealtimeAudioFormats {
  if (format.codec === 'mulaw' && format.sampleRate === 8000) return { type: 'audio/pcmu' };
  if (format.codec === 'alaw' && format.sampleRate === 8000) return { type: 'audio/pcma' };
  if (format.codec === 'pcm16' && format.sampleRate === 24000) return { type: 'audio/pcm', rate: 24000 };
  throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `OpenAI Realtime takes audio/pcmu, audio/pcma or audio/pcm at 24 kHz, not ${format.codec} at ${String(format.sampleRate)} Hz`);
}

/** Does the format the server reports match the one we asked for? (A missing rate means the default, 24 kHz.) */
export function sameWireFormat(asked: RealtimeAudioFormats, got: unknown): boolean {
  if (typeof got !== 'object' || got === null) return false;
  const g = got as { type?: unknown; rate?: unknown };
  if (g.type !== asked.type) return false;
  return asked.type !== 'audio/pcm' || g.rate === undefined || g.rate === 24000;
}

/**
 * The formats a session uses. Input is what the call negotiated from INPUT_FORMATS. Output follows the
 * caller: a G.711 caller is answered in its own codec so egress needs no transcode; any other caller
 * gets PCM16 at 24 kHz.
 */
export function chooseFormats(inputFormat: AudioFormat, callerFormat: AudioFormat): { input: AudioFormat; output: AudioFormat } {
  wireFormatOf(inputFormat);
  const g711 = (callerFormat.codec === 'mulaw' || callerFormat.codec === 'alaw') && callerFormat.sampleRate === 8000;
  return { input: inputFormat, output: g711 ? { codec: callerFormat.codec, sampleRate: 8000 } : PCM24K };
}

export function turnDetectionOf(mode: TurnDetectionMode): RealtimeAudioInputTurnDetection | null {
  // 'none': our own VAD ends turns (endTurn -> commit + response.create), so the server must not.
  if (mode === 'none') return null;
  return { type: mode, create_response: true, interrupt_response: true };
}

/** The function the model calls to end the call (END_CALL_TOOL=1); the session turns it into a hangup event. */
export const END_CALL_TOOL_NAME = 'end_call';
const END_CALL_TOOL = {
  type: 'function' as const,
  name: END_CALL_TOOL_NAME,
  description: 'End the phone call. Call this only after you have said goodbye, when the caller is done or asks to hang up.',
  parameters: {
    type: 'object',
    properties: { reason: { type: 'string', description: 'Why the call ends, in a few words.' } },
    additionalProperties: false,
  },
};

export function sessionUpdate(opts: {
  instructions: string;
  input: AudioFormat;
  output: AudioFormat;
  voice: string;
  turnDetection: TurnDetectionMode;
  endCallTool?: boolean;
}): SessionUpdateEvent {
  const session: RealtimeSessionCreateRequest = {
    type: 'realtime',
    instructions: opts.instructions,
    output_modalities: ['audio'],
    audio: {
      input: {
        format: wireFormatOf(opts.input),
        turn_detection: turnDetectionOf(opts.turnDetection),
        transcription: { model: TRANSCRIPTION_MODEL },
      },
      output: { format: wireFormatOf(opts.output), voice: opts.voice },
    },
  };
  if (opts.endCallTool) {
    session.tools = [END_CALL_TOOL];
    session.tool_choice = 'auto';
  }
  return { type: 'session.update', session };
}

/** One history turn as a conversation item: user text in, assistant text out. */
export function historyItem(turn: ConversationTurn): ConversationItemCreateEvent {
  if (turn.role === 'user') {
    return { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: turn.text }] } };
  }
  return { type: 'conversation.item.create', item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: turn.text }] } };
}
