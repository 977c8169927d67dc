import type { AudioFormat } from '../../pipeline/frame.js';

/** What Gemini Live takes in: PCM16 at 16 kHz. */
export const GEMINI_INPUT: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };

/** How a Gemini Live provider is set up; its own module so the provider and its session share it without importing each other. */
export interface GeminiProviderOptions {
  readonly apiKey?: string;
  /** http(s) base URL of the API (tests: a loopback fake); the SDK derives the ws(s) URL. */
  readonly baseUrl?: string;
  readonly model: string;
  readonly voice?: string;
  /** Default system instructions; ProviderConnectOptions.instructions wins when set. */
  readonly instructions?: string;
  /** 'client' (default): our VAD brackets turns; 'automatic': the server's activity detection does. */
  readonly activityDetection?: 'client' | 'automatic';
  /** Declare the end_call function (END_CALL_TOOL): the model may end the call after its goodbye. */
  readonly endCallTool?: boolean;
  /** Bound on opening the replacement link after goAway. */
  readonly reconnectTimeoutMs?: number;
}
