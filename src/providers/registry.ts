/**
 * Builds the configured providers in PROVIDERS order (the first answers calls; later ones are the
 * fallback order), each behind its circuit breaker. Which adapter a name means is its descriptor's
 * business (./descriptors.ts); nothing here names a provider but the embedded echo fallback.
 */
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { gatewayVadTurns, type CreateContext } from './descriptor.js';
import { descriptorFor, knownProviderNames } from './descriptors.js';
import { EchoProvider } from './echo/echo-provider.js';
import { GuardedProvider } from './guard.js';
import type { Provider } from './types.js';

export type AdapterFactory = (config: Config) => Provider;

function createContext(config: Config): CreateContext {
  return { instructions: config.instructions, vadEngine: config.vadEngine };
}

/** Adapters by PROVIDERS name (kept as a public export; built from the descriptors). */
export const ADAPTERS: Record<string, AdapterFactory> = Object.fromEntries(
  knownProviderNames().map((name): [string, AdapterFactory] => [name, (config) => descriptorFor(name)!.create(name, config, createContext(config))]),
);

export function createProviders(config: Config, deps: { metrics: Metrics; logger: Logger }): GuardedProvider[] {
  return config.providers.map((name) => {
    const descriptor = descriptorFor(name);
    if (!descriptor) throw new GatewayError('GW_ERR_PROVIDER_UNKNOWN', `'${name}'`);
    const turns = turnDetectionOf(name, config);
    const chunkMs = audioChunkMsFor(name, config);
    deps.logger.info(
      { event: 'provider_turn_detection', provider: name, vadEngine: config.vadEngine, turnDetection: turns, audioChunkMs: chunkMs },
      `${name}: turns are ended by ${turns}; caller audio goes in ${String(chunkMs)} ms messages`,
    );
    return new GuardedProvider(descriptor.create(name, config, createContext(config)), { ...deps, breaker: config.breaker });
  });
}

/** Who ends the caller's turns for a provider, as resolved from VAD_ENGINE and the provider's settings. */
export function turnDetectionOf(name: string, config: Config): string {
  const descriptor = descriptorFor(name);
  return descriptor ? descriptor.turnDetection(name, config, createContext(config)) : gatewayVadTurns(config.vadEngine);
}

/** PROVIDER_AUDIO_CHUNK_MS=auto: chunks of this much caller audio where the gateway's VAD alone ends the turns. */
export const AUTO_AUDIO_CHUNK_MS = 60;

/**
 * Caller audio per message to this provider (calls/audio-chunker.ts). `auto`: AUTO_AUDIO_CHUNK_MS when
 * the gateway's VAD alone ends the turns (a turn's end flushes the chunk before the commit, so no reply
 * waits for it), one frame (20 ms) when the provider hears the turns in the audio itself.
 */
export function audioChunkMsFor(name: string, config: Config): number {
  const setting = config.media.providerAudioChunkMs;
  if (setting !== 'auto') return setting;
  return config.vadEngine !== 'off' && turnDetectionOf(name, config) === gatewayVadTurns(config.vadEngine) ? AUTO_AUDIO_CHUNK_MS : 20;
}

/**
 * ALL_PROVIDERS_DOWN=echo keeps a caller on the embedded echo provider when every configured provider
 * is down (it is appended last to the fallback order); the default, hangup, apologises and ends the call.
 */
export function withAllDownFallback(providers: GuardedProvider[], config: Config, deps: { metrics: Metrics; logger: Logger }): GuardedProvider[] {
  if (config.failover.allDown !== 'echo' || providers.some((p) => p.name === 'echo')) return providers;
  return [...providers, new GuardedProvider(new EchoProvider(), { ...deps, breaker: config.breaker })];
}
