/**
 * The Gemini Live provider (@google/genai `ai.live.connect`): PCM16 in at 16 kHz, PCM16 out at
 * 24 kHz. Each connect opens one GeminiLiveSession (./live-session.ts); the SDK's socket is owned by
 * ./live-link.ts and server messages are read by ./server-message.ts.
 */
import { GatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import type { Provider, ProviderConnectOptions, ProviderSession } from '../types.js';
import { GEMINI_INPUT, GeminiLiveSession } from './live-session.js';

export type { GeminiLiveSession } from './live-session.js';

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

export class GeminiLiveProvider implements Provider {
  readonly name = 'gemini';
  readonly inputFormats: readonly AudioFormat[] = [GEMINI_INPUT];
  readonly #options: GeminiProviderOptions;

  constructor(options: GeminiProviderOptions) {
    this.#options = options;
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    if (!this.#options.apiKey) throw new GatewayError('GW_ERR_PROVIDER_AUTH', 'gemini: no API key configured');
    const session = new GeminiLiveSession(this.#options, options);
    await session.start(options.signal);
    return session;
  }
}
