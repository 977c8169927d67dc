/** The VAD's public surface, for the call graph and the entry file. */
export { createVadService, type VadService, type VadServiceOptions } from './vad-service.js';
export type { CallVad, CallVadOptions, VadEngine } from './call-vad.js';
export type { FallbackReason } from './silero-batcher.js';
export { DEFAULT_TURN_OPTIONS, TurnDetector, type TurnEvent, type TurnOptions } from './turn-detector.js';
export { DEFAULT_ENERGY_VAD_OPTIONS, EnergyVad, type EnergyVadOptions } from './energy-vad.js';
export { SILERO_GEOMETRY, isVadSampleRate, sileroModelPath, type VadSampleRate } from './silero-model.js';
export { detectSegments, type DetectOptions, type DetectResult } from './detect-file.js';
export { scoreFrames, scoreTurns, type FrameScore, type Segment, type TurnScore } from './score.js';
