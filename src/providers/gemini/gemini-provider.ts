/**
 * The Gemini Live provider (@google/genai `ai.live.connect`): PCM16 in at 16 kHz, PCM16 out at
 * 24 kHz. Each connect opens one GeminiLiveSession (./live-session.ts); the SDK's socket is owned by
 * ./live-link.ts and server messages are read by ./server-message.ts.
 */
import { GatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import { lazyImport } from '../../util/lazy-import.js';
import type { Provider, ProviderConnectOptions, ProviderSession } from '../types.js';
import type * as LiveSessionModule from './live-session.js';
import { GEMINI_INPUT, type GeminiProviderOptions } from './options.js';

export type { GeminiLiveSession } from './live-session.js';

export type { GeminiProviderOptions } from './options.js';

/** The session and the SDK under it (@google/genai), on the first connect: a gateway without Gemini never loads them. */
const liveSession = lazyImport(() => import('./live-session.js'));

export class GeminiLiveProvider implements Provider {
  readonly name = 'gemini';
  readonly inputFormats: readonly AudioFormat[] = [GEMINI_INPUT];
  readonly #options: GeminiProviderOptions;

  constructor(options: GeminiProviderOptions) {
    this.#options = options;
  }

  async preload(): Promise<void> {
    await liveSession();
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    if (!this.#options.apiKey) throw new GatewayError('GW_ERR_PROVIDER_AUTH', 'gemini: no API key configured');
    let sessions: typeof LiveSessionModule;
    try {
      sessions = await liveSession();
    } catch (err) {
      throw new GatewayError('GW_ERR_PROVIDER_CONNECT', `gemini: the session module did not load: ${(err as Error).message}`, { cause: err });
    }
    const session = new sessions.GeminiLiveSession(this.#options, options);
    await session.start(options.signal);
    return session;
  }
}
