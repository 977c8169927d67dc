// The package's library API (`import { ... } from 'voice-gateway'`). The CLI lives in cli/; this
// file only re-exports what users build on: the audio core, VAD, the gateway and its seams.

// Audio core
export type { AudioFormat, AudioFrame, Codec, EncodedFrame, WireCodec, WireFormat } from './pipeline/frame.js';
export { SUPPORTED_RATES, frameDurationMs, pcm16FromBytes, pcm16ToBytes } from './pipeline/frame.js';
export { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, ALAW_SILENCE, MULAW_SILENCE } from './pipeline/codecs/g711.js';
export { decodeL16, encodeL16 } from './pipeline/codecs/l16.js';
export { Resampler, type ResamplerQuality } from './pipeline/resample/resampler.js';
export { readWav, writeWav, type PcmAudio } from './pipeline/wav.js';
export { DtmfDetector, dtmfTones, type DetectedDigit, type DtmfToneOptions } from './pipeline/dtmf.js';

// Voice activity and turns
export * from './pipeline/vad/index.js';
export { createWorkerPool, type WorkerPool, type WorkerPoolOptions } from './workers/pool.js';

// Errors, config, observability
export { ERRORS, GatewayError, isGatewayError, type ErrorCode, type ErrorSpec } from './errors.js';
export { loadConfig, type Config, type VadEngineName } from './config.js';
// What `voice-gateway serve` applies to its own V8; an embedder's process applies it by choice.
export { applyV8Flags, gatewayV8Flags } from './util/v8-flags.js';
export { createMetrics, type Metrics } from './observability/metrics.js';
export { createLogger, silentLogger } from './observability/logger.js';

// The gateway and its provider seam
export { createGateway, type Gateway, type GatewayOverrides } from './gateway.js';
export { buildApp, type AppDeps } from './http/app.js';
export type {
  ConversationTurn,
  Provider,
  ProviderConnectOptions,
  ProviderEvent,
  ProviderSession,
  TurnInfo,
} from './providers/types.js';
export { ADAPTERS, createProviders } from './providers/registry.js';

// Engineers' tools
export { simulateCall, summarise, type SimulatedCallOptions, type SimulatedCallResult } from './simulator/caller.js';
