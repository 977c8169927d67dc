/**
 * The units that travel through a call's stream graph. Frames are treated as immutable once emitted:
 * a stage that changes audio makes a new frame, so a frame can be held for replay (failover) while
 * later stages run.
 */
import { GatewayError } from '../errors.js';

export type Codec = 'pcm16' | 'mulaw' | 'alaw' | 'opus';

/** A codec plus the rate it runs at. Sinks list the formats they accept in order of preference. */
export interface AudioFormat {
  readonly codec: Codec;
  readonly sampleRate: number;
}

/**
 * Codecs a transport hands the call: G.711 from carriers, L16 (big-endian PCM16, as RTP carries it),
 * and pcm16 (little-endian PCM16, what a transport that decodes its own codec, like WebRTC's Opus,
 * hands over).
 */
export type WireCodec = 'mulaw' | 'alaw' | 'l16' | 'pcm16';

export interface WireFormat {
  readonly codec: WireCodec;
  readonly sampleRate: number;
}

/** Decoded audio: PCM16 mono. */
export interface AudioFrame {
  readonly samples: Int16Array;
  readonly sampleRate: number;
  /** Monotonically increasing per call and direction; gaps mean loss, the failover checks rely on it. */
  readonly seq: number;
  /** Media time of the first sample, in ms since the call's media started. */
  readonly timestampMs: number;
}

/** An encoded payload (G.711 bytes, an Opus packet) with its codec named. */
export interface EncodedFrame {
  readonly codec: Exclude<Codec, 'pcm16'>;
  readonly payload: Uint8Array;
  /**
   * The payload as base64, when the carrier sent it so (already checked to decode to exactly
   * `payload`): a provider that takes base64 forwards it and skips encoding the bytes again.
   */
  readonly base64?: string;
  readonly sampleRate: number;
  readonly seq: number;
  readonly timestampMs: number;
  /** Samples the payload decodes to (known up front for G.711, from the packet for Opus). */
  readonly sampleCount: number;
}

export const SUPPORTED_RATES: readonly number[] = [8000, 16000, 24000, 44100, 48000];

export function assertSupportedRate(rate: number, what = 'sample rate'): void {
  if (!SUPPORTED_RATES.includes(rate)) {
    throw new GatewayError(
      'GW_ERR_AUDIO_UNSUPPORTED_RATE',
      `${what} ${String(rate)} Hz (supported: ${SUPPORTED_RATES.join(', ')})`,
    );
  }
}

export function frameDurationMs(sampleCount: number, sampleRate: number): number {
  return (sampleCount * 1000) / sampleRate;
}

/** View little-endian PCM16 bytes as samples without copying when alignment allows. */
export function pcm16FromBytes(bytes: Uint8Array): Int16Array {
  if (bytes.byteLength % 2 !== 0) {
    throw new GatewayError('GW_ERR_AUDIO_ODD_LENGTH', `${String(bytes.byteLength)} bytes`);
  }
  if (bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  }
  return new Int16Array(bytes.slice().buffer);
}

/** The little-endian bytes of PCM16 samples (a view, no copy). */
export function pcm16ToBytes(samples: Int16Array): Uint8Array {
  return new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
}
