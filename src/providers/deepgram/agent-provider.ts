/**
 * `deepgram`: the Deepgram Voice Agent API (listen, think and speak hosted by Deepgram) over the
 * official SDK's agent v1 socket, one WebSocket per call. G.711 callers are heard and answered in
 * their own codec. Like every adapter this only connects, encodes and decodes: the SDK's reconnects
 * are off (failover is the one retry layer), and breaker and metrics live in the guard.
 */
import { GatewayError, isGatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import type { Provider, ProviderConnectOptions, ProviderSession } from '../types.js';
import { agentInputOf, agentOutputFor, buildSettings, isFluxModel } from './agent-settings.js';
import { DeepgramAgentSession } from './agent-session.js';
import type { DeepgramSettings } from './settings.js';
import { createClient, deepgramSdk, SocketLink } from './socket.js';

export interface DeepgramAgentOptions {
  readonly keepAliveMs?: number;
  readonly closeWaitMs?: number;
}

const INPUT_FORMATS: readonly AudioFormat[] = [
  { codec: 'mulaw', sampleRate: 8000 },
  { codec: 'alaw', sampleRate: 8000 },
  { codec: 'pcm16', sampleRate: 16000 },
];

export type DeepgramAgentConfig = DeepgramSettings & { readonly instructions: string; readonly endCallTool: boolean };

export class DeepgramAgentProvider implements Provider {
  readonly name = 'deepgram';
  readonly inputFormats = INPUT_FORMATS;
  readonly #config: DeepgramAgentConfig;
  readonly #options: DeepgramAgentOptions;

  constructor(config: DeepgramAgentConfig, options: DeepgramAgentOptions = {}) {
    this.#config = config;
    this.#options = options;
  }

  async preload(): Promise<void> {
    await deepgramSdk();
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    options.signal?.throwIfAborted();
    const c = this.#config;
    if (c.apiKey === undefined) throw new GatewayError('GW_ERR_PROVIDER_AUTH', 'DEEPGRAM_API_KEY is not set');
    const input = agentInputOf(options.inputFormat);
    const output = agentOutputFor(options.callerFormat);
    const settings = buildSettings({
      config: {
        listenModel: c.listenModel,
        thinkProvider: c.thinkProvider,
        thinkModel: c.thinkModel,
        thinkEndpointUrl: c.thinkEndpointUrl,
        thinkApiKey: c.thinkApiKey,
        voice: c.voice,
        greeting: c.greeting,
        endCallTool: c.endCallTool,
      },
      instructions: options.instructions ?? c.instructions,
      input,
      output,
      history: options.history,
    });
    const client = await createClient(c.apiKey, c.baseUrl);
    let socket;
    try {
      // reconnectAttempts 0: the SDK would otherwise reconnect up to 30 times behind our back.
      socket = await client.agent.v1.connect({ reconnectAttempts: 0, shouldReconnect: () => false });
    } catch (err) {
      throw isGatewayError(err) ? err : new GatewayError('GW_ERR_PROVIDER_CONNECT', `deepgram agent: ${(err as Error).message}`, { cause: err });
    }
    const link = new SocketLink(socket, 'agent');
    await link.open(options.signal);
    const session = new DeepgramAgentSession({
      socket,
      link,
      input: options.inputFormat,
      output,
      settings,
      // DEEPGRAM_ENDPOINTING: the agent's own end-of-turn alone; else our VAD ends Flux turns too.
      forceEndTurn: isFluxModel(c.listenModel) && c.endpointing !== true,
      endCallTool: c.endCallTool,
      keepAliveMs: this.#options.keepAliveMs ?? 4000,
      closeWaitMs: this.#options.closeWaitMs ?? 1000,
      log: options.logger.child({ provider: this.name }),
    });
    await session.open(options.signal);
    return session;
  }
}
