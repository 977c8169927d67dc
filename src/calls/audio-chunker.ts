/**
 * Caller audio to the provider in chunks of `chunkMs` (PROVIDER_AUDIO_CHUNK_MS) instead of one
 * message per 20 ms carrier frame. Each message to a provider is a TLS record and a socket write,
 * the largest single cost of a call on the main thread (bench/results/2026-12-07-issue16-session13.md),
 * so three frames a message take two of every three off it. LiveKit's realtime plugins send 100 ms
 * chunks for the same reason.
 *
 * What it costs: a frame reaches the provider up to `chunkMs - 20` ms later. With the gateway's VAD
 * running the turns that delays no reply, since a turn's end flushes the chunk before the turn is
 * committed (ProviderSink.endTurn); where the provider detects turns itself (VAD off: its server VAD),
 * it hears the end of speech that much later. Each frame's ingress latency is recorded when its chunk
 * goes out, so the metric shows the hold.
 *
 * Only what can be joined byte for byte is: PCM16, and G.711 (a sample a byte). An Opus packet goes on
 * alone. A chunk is a new frame (the parts stay untouched, as the replay ring may hold them); a
 * G.711 chunk drops the carrier's base64, which cannot be concatenated (each part is padded).
 */
import { frameDurationMs, type AudioFrame, type EncodedFrame } from '../pipeline/frame.js';

type Frame = AudioFrame | EncodedFrame;

export interface AudioChunkerOptions {
  /** Caller audio per message at most, ms (whole frames); a frame at least this long goes on alone. */
  readonly chunkMs: number;
  /** Where a chunk (or a frame that goes on alone) goes. */
  readonly emit: (frame: Frame, frames: number) => void;
  /** A live frame went out, `receivedAtMs` after its arrival (replays are not reported). */
  readonly onDelivered: (receivedAtMs: number) => void;
}

/** Below this much short of a chunk, the chunk is full (frames of 20 ms add up to 60, not 59.99). */
const EPSILON_MS = 0.5;

function durationMs(frame: Frame): number {
  return frameDurationMs('samples' in frame ? frame.samples.length : frame.sampleCount, frame.sampleRate);
}

function joinable(frame: Frame): boolean {
  return 'samples' in frame || frame.codec === 'mulaw' || frame.codec === 'alaw';
}

function sameFormat(a: Frame, b: Frame): boolean {
  if (a.sampleRate !== b.sampleRate) return false;
  if ('samples' in a) return 'samples' in b;
  return !('samples' in b) && a.codec === b.codec;
}

export class AudioChunker {
  readonly #o: AudioChunkerOptions;
  /** Reused from chunk to chunk (emit never keeps them: a chunk is a copy, or the one part itself). */
  readonly #parts: Frame[] = [];
  /** Arrival of each part (NaN: a replay, not reported). */
  readonly #receivedAt: number[] = [];
  #heldMs = 0;

  constructor(options: AudioChunkerOptions) {
    this.#o = options;
  }

  /** Frames waiting for their chunk to fill. */
  get pending(): number {
    return this.#parts.length;
  }

  /** `receivedAtMs` undefined: a replay or audio already reported. */
  push(frame: Frame, receivedAtMs: number | undefined): void {
    const ms = durationMs(frame);
    if (!joinable(frame) || ms >= this.#o.chunkMs - EPSILON_MS) {
      this.flush();
      this.#o.emit(frame, 1);
      if (receivedAtMs !== undefined) this.#o.onDelivered(receivedAtMs);
      return;
    }
    // A chunk never goes over chunkMs (50 ms of 20 ms frames: 40 ms messages).
    if (this.#parts.length > 0 && (!sameFormat(this.#parts[0], frame) || this.#heldMs + ms > this.#o.chunkMs + EPSILON_MS)) this.flush();
    this.#parts.push(frame);
    this.#receivedAt.push(receivedAtMs ?? NaN);
    this.#heldMs += ms;
    if (this.#heldMs >= this.#o.chunkMs - EPSILON_MS) this.flush();
  }

  /** Send what is held now (a turn ends, the call ends). */
  flush(): void {
    const parts = this.#parts;
    const n = parts.length;
    if (n === 0) return;
    const receivedAt = this.#receivedAt;
    this.#heldMs = 0;
    this.#o.emit(n === 1 ? parts[0] : join(parts), n);
    for (let i = 0; i < n; i++) if (!Number.isNaN(receivedAt[i])) this.#o.onDelivered(receivedAt[i]);
    parts.length = 0;
    receivedAt.length = 0;
  }

  /** Forget what is held (a retired link: the replay ring gives those frames to the next one). */
  drop(): number {
    const n = this.#parts.length;
    this.#parts.length = 0;
    this.#receivedAt.length = 0;
    this.#heldMs = 0;
    return n;
  }
}

function join(parts: readonly Frame[]): Frame {
  const first = parts[0];
  if ('samples' in first) {
    let length = 0;
    for (const p of parts) length += (p as AudioFrame).samples.length;
    const samples = new Int16Array(length);
    let at = 0;
    for (const p of parts) {
      samples.set((p as AudioFrame).samples, at);
      at += (p as AudioFrame).samples.length;
    }
    return { samples, sampleRate: first.sampleRate, seq: first.seq, timestampMs: first.timestampMs };
  }
  let length = 0;
  let sampleCount = 0;
  for (const p of parts) {
    length += (p as EncodedFrame).payload.length;
    sampleCount += (p as EncodedFrame).sampleCount;
  }
  const payload = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    payload.set((p as EncodedFrame).payload, at);
    at += (p as EncodedFrame).payload.length;
  }
  return { codec: first.codec, payload, sampleRate: first.sampleRate, seq: first.seq, timestampMs: first.timestampMs, sampleCount };
}
