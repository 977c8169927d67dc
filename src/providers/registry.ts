/**
 * Builds the configured providers in PROVIDERS order (the first answers calls; later ones are the
 * fallback order), each behind its circuit breaker.
 */
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { DeepgramAgentProvider } from './deepgram/agent-provider.js';
import { isFluxModel } from './deepgram/agent-settings.js';
import { DeepgramCascadeProvider } from './deepgram/cascade-provider.js';
import { ChatResponder } from './llm/chat-responder.js';
import { EchoProvider } from './echo/echo-provider.js';
import { GeminiLiveProvider } from './gemini/gemini-provider.js';
import { GuardedProvider } from './guard.js';
import { OpenAIRealtimeProvider } from './openai/openai-provider.js';
import type { Provider } from './types.js';

export type AdapterFactory = (config: Config) => Provider;

/** Adapters by name. Real providers register here; each reads its own keys from the config. */
export const ADAPTERS: Record<string, AdapterFactory> = {
  echo: (config) => new EchoProvider({ replyDelayMs: config.echoReplyDelayMs }),
  gemini: (config) => new GeminiLiveProvider({ ...config.gemini, instructions: config.instructions }),
  deepgram: (config) => new DeepgramAgentProvider({ ...config.deepgram, instructions: config.instructions, endCallTool: config.openai.endCallTool ?? false }),
  // STT -> the LLM -> TTS. The responder is always the LLM: no configuration answers with the echo.
  'deepgram-cascade': (config) =>
    new DeepgramCascadeProvider(config.deepgram, {
      instructions: config.instructions,
      responder: new ChatResponder({ ...config.llm, instructions: config.instructions, endCallTool: config.openai.endCallTool ?? false }),
    }),
  openai: (config) => new OpenAIRealtimeProvider({ ...config.openai, instructions: config.instructions }),
};

export function createProviders(config: Config, deps: { metrics: Metrics; logger: Logger }): GuardedProvider[] {
  return config.providers.map((name) => {
    const factory = ADAPTERS[name];
    if (!factory) throw new GatewayError('GW_ERR_PROVIDER_UNKNOWN', `'${name}'`);
    deps.logger.info({ event: 'provider_turn_detection', provider: name, vadEngine: config.vadEngine, turnDetection: turnDetectionOf(name, config) }, `${name}: turns are ended by ${turnDetectionOf(name, config)}`);
    return new GuardedProvider(factory(config), { ...deps, breaker: config.breaker });
  });
}

/** Who ends the caller's turns for a provider, as resolved from VAD_ENGINE and the provider's settings. */
export function turnDetectionOf(name: string, config: Config): string {
  if (name === 'openai') return config.openai.turnDetection === 'none' ? `the gateway VAD (${config.vadEngine})` : `openai ${config.openai.turnDetection}`;
  if (name === 'gemini') return config.gemini.activityDetection === 'automatic' ? 'gemini automatic activity detection' : `the gateway VAD (${config.vadEngine})`;
  if (name === 'deepgram') {
    // The agent always detects turns itself; with a Flux model our VAD may end them first (ForceEndTurn).
    const flux = isFluxModel(config.deepgram.listenModel);
    return config.deepgram.endpointing || !flux || config.vadEngine === 'off' ? 'the deepgram agent' : `the deepgram agent or the gateway VAD (${config.vadEngine}), whichever first`;
  }
  if (name === 'deepgram-cascade') return config.vadEngine === 'off' ? 'deepgram endpointing' : `deepgram endpointing or the gateway VAD (${config.vadEngine}), whichever first`;
  return `the gateway VAD (${config.vadEngine})`;
}

/**
 * ALL_PROVIDERS_DOWN=echo keeps a caller on the embedded echo provider when every configured provider
 * is down (it is appended last to the fallback order); the default, hangup, apologises and ends the call.
 */
export function withAllDownFallback(providers: GuardedProvider[], config: Config, deps: { metrics: Metrics; logger: Logger }): GuardedProvider[] {
  if (config.failover.allDown !== 'echo' || providers.some((p) => p.name === 'echo')) return providers;
  return [...providers, new GuardedProvider(new EchoProvider(), { ...deps, breaker: config.breaker })];
}
