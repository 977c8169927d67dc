/**
 * Opus at 48 kHz mono through @discordjs/opus (libopus 1.3.1, native): a pure, synchronous encoder and
 * decoder pair for the WebRTC transport, plus the packet arithmetic (TOC parsing) the jitter buffer
 * needs. One encoder and one decoder per call; both keep state across frames, so never share them.
 *
 * Loss concealment: the binding decodes with `decode_fec = 0` and no way to ask for FEC, and an empty
 * buffer makes libopus conceal a whole 120 ms (its maximum frame size). So a lost 20 ms is concealed by
 * decoding a TOC-only packet (one byte, code 0, no frame data): RFC 6716 section 3.2.1 defines a
 * zero-length frame as lost, libopus then runs its PLC for exactly the frame duration the TOC names.
 * In-band FEC (LBRR) cannot be used on receive through this binding; we therefore do not ask browsers
 * to send it (no `useinbandfec=1` in our answer), which also saves them the bits.
 */
import opus, { type OpusEncoder as NativeOpus } from '@discordjs/opus';
import { GatewayError } from '../../errors.js';

export const OPUS_RATE = 48000;
/** 20 ms at 48 kHz: what browsers send by default and what egress hands us. */
export const OPUS_FRAME_SAMPLES = 960;

// libopus CTL requests and values (opus_defines.h).
const OPUS_SET_VBR = 4006;
const OPUS_SET_MAX_BANDWIDTH = 4004;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_VBR_CONSTRAINT = 4020;
const OPUS_SET_FORCE_MODE = 11002;
const MODE_CELT_ONLY = 1002;
const BANDWIDTH = { narrowband: 1101, wideband: 1103, superwideband: 1104, fullband: 1105 } as const;

/** TOC config 31: CELT fullband 20 ms, used for concealment before any packet has arrived. */
const DEFAULT_TOC = 31 << 3;

export interface OpusEncoderOptions {
  /** Target bitrate, bit/s. */
  readonly bitrate?: number;
  /** 0..10. */
  readonly complexity?: number;
  readonly maxBandwidth?: keyof typeof BANDWIDTH;
  /** 'celt' forces the MDCT layer; 'auto' lets libopus pick SILK/hybrid/CELT per frame. */
  readonly mode?: 'celt' | 'auto';
  readonly vbr?: 'unconstrained' | 'constrained' | 'off';
}

/**
 * Defaults for bot speech to a browser, chosen by measurement (test/webrtc/opus.test.ts and
 * bench/webrtc.bench.ts) on the speech fixtures at 48 kbit/s:
 * - CELT only, wideband: providers speak at 16 or 24 kHz, so there is little above 8 kHz to carry;
 *   capping the band puts the bits where the speech is. SILK/hybrid ('auto') scored 4-9 dB lower
 *   waveform SNR (its resamplers are not linear phase) and costs more CPU.
 * - Complexity 0: 1.0 ms CPU per call-second against 4.0 at complexity 10, and on these clips the
 *   highest waveform SNR (higher complexities add perceptual tricks: spreading, TF and pitch analysis).
 * - Unconstrained VBR: spends bits where the speech needs them and lands under the target on average:
 *   a 50 kbit/s target averages 47.4 kbit/s on the fixtures (a 48 kbit/s one: 45.5), which is what
 *   lifts the hardest clip (a loud fricative) from 19.7 to 20.3 dB. The budget is the delivered rate.
 */
export const DEFAULT_ENCODER: Required<OpusEncoderOptions> = {
  bitrate: 50000,
  complexity: 0,
  maxBandwidth: 'wideband',
  mode: 'celt',
  vbr: 'unconstrained',
};

function opusError(what: string, err: unknown): GatewayError {
  return new GatewayError('GW_ERR_AUDIO_OPUS', `${what}: ${(err as Error).message}`, { cause: err });
}

/** A view of native output as samples, copying only when the buffer is not 2-byte aligned. */
function samplesOf(buf: Buffer): Int16Array {
  if (buf.byteOffset % 2 === 0) return new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  return new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class OpusEncoder {
  readonly options: Required<OpusEncoderOptions>;
  readonly #native: NativeOpus;

  constructor(options: OpusEncoderOptions = {}) {
    this.options = { ...DEFAULT_ENCODER, ...options };
    const o = this.options;
    this.#native = new opus.OpusEncoder(OPUS_RATE, 1);
    try {
      if (o.mode === 'celt') this.#native.applyEncoderCTL(OPUS_SET_FORCE_MODE, MODE_CELT_ONLY);
      this.#native.applyEncoderCTL(OPUS_SET_MAX_BANDWIDTH, BANDWIDTH[o.maxBandwidth]);
      this.#native.applyEncoderCTL(OPUS_SET_COMPLEXITY, o.complexity);
      this.#native.applyEncoderCTL(OPUS_SET_VBR, o.vbr === 'off' ? 0 : 1);
      if (o.vbr !== 'off') this.#native.applyEncoderCTL(OPUS_SET_VBR_CONSTRAINT, o.vbr === 'constrained' ? 1 : 0);
      this.#native.setBitrate(o.bitrate);
    } catch (err) {
      throw opusError('encoder settings', err);
    }
  }

  /** One frame of 48 kHz mono PCM16 (2.5..60 ms; 960 samples for 20 ms) to one Opus packet. */
  encode(pcm: Int16Array): Uint8Array {
    try {
      return this.#native.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    } catch (err) {
      throw opusError(`encode of ${String(pcm.length)} samples`, err);
    }
  }
}

export class OpusDecoder {
  readonly #native = new opus.OpusEncoder(OPUS_RATE, 1);
  #lastToc = DEFAULT_TOC;

  /** One packet to 48 kHz mono PCM16 (stereo packets are downmixed by libopus). Throws GW_ERR_AUDIO_OPUS. */
  decode(packet: Uint8Array): Int16Array {
    if (packet.length === 0) throw new GatewayError('GW_ERR_AUDIO_OPUS', 'empty packet');
    let out: Buffer;
    try {
      out = this.#native.decode(bufferOf(packet));
    } catch (err) {
      throw opusError(`decode of a ${String(packet.length)}-byte packet`, err);
    }
    this.#lastToc = packet[0];
    return samplesOf(out);
  }

  /**
   * Conceal `samples` of lost audio with the decoder's PLC, in steps of the last packet's frame
   * duration (so the decoder's state advances as if those packets had been decoded). The result is
   * rounded up to whole frames; the caller keeps the sample clock.
   */
  conceal(samples: number): Int16Array {
    const toc = Buffer.of(this.#lastToc & 0xfc); // code 0: one frame, here of zero length = lost
    const step = tocFrameSamples(this.#lastToc);
    const frames = Math.max(1, Math.ceil(samples / step));
    const out = new Int16Array(frames * step);
    for (let i = 0; i < frames; i++) {
      let pcm: Int16Array;
      try {
        pcm = samplesOf(this.#native.decode(toc));
      } catch (err) {
        throw opusError('concealment', err);
      }
      out.set(pcm.subarray(0, step), i * step);
    }
    return out;
  }
}

/** Samples per frame at 48 kHz that a TOC byte's configuration names (RFC 6716 section 3.1). */
export function tocFrameSamples(toc: number): number {
  const config = toc >> 3;
  if (config < 12) return [480, 960, 1920, 2880][config & 3]; // SILK: 10, 20, 40, 60 ms
  if (config < 16) return (config & 1) === 0 ? 480 : 960; // hybrid: 10, 20 ms
  return [120, 240, 480, 960][config & 3]; // CELT: 2.5, 5, 10, 20 ms
}

/** Samples at 48 kHz a packet decodes to, from its TOC and frame count; 0 if it is malformed. */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0];
  const perFrame = tocFrameSamples(toc);
  let frames: number;
  switch (toc & 3) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default:
      if (packet.length < 2) return 0;
      frames = packet[1] & 0x3f;
  }
  const total = frames * perFrame;
  // More than 120 ms in one packet is invalid (RFC 6716 section 3.2.5).
  return frames === 0 || total > 5760 ? 0 : total;
}

/** A TOC byte in words: mode, audio bandwidth, frame duration (for stats and logs). */
export function describeToc(toc: number): string {
  const config = toc >> 3;
  const ms = tocFrameSamples(toc) / 48;
  if (config < 12) return `SILK ${['NB', 'MB', 'WB'][config >> 2]} ${String(ms)} ms`;
  if (config < 16) return `hybrid ${config < 14 ? 'SWB' : 'FB'} ${String(ms)} ms`;
  return `CELT ${['NB', 'WB', 'SWB', 'FB'][(config - 16) >> 2]} ${String(ms)} ms`;
}
