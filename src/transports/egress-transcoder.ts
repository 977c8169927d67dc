/**
 * Egress in the codec the carrier was told to expect. The call encodes its replies in the stream's
 * inbound format (what `start` reported); when the carrier was told another codec for what we send
 * (TeXML bidirectionalCodec, Call Control stream_bidirectional_codec), each payload is re-encoded
 * here, so an A-law stream with a PCMU bidirectional codec never plays A-law bytes as mu-law.
 */
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import { Resampler } from '../pipeline/resample/resampler.js';
import type { WireFormat } from './media-events.js';

export class EgressTranscoder {
  readonly #from: WireFormat;
  readonly #to: WireFormat;
  readonly #resampler: Resampler | undefined;

  constructor(from: WireFormat, to: WireFormat) {
    this.#from = from;
    this.#to = to;
    this.#resampler = from.sampleRate === to.sampleRate ? undefined : new Resampler({ from: from.sampleRate, to: to.sampleRate });
  }

  /** True when the two formats are the same: no work to do. */
  static needed(from: WireFormat, to: WireFormat | undefined): to is WireFormat {
    return to !== undefined && (from.codec !== to.codec || from.sampleRate !== to.sampleRate);
  }

  /** The payload in the egress format; empty while a resampler is still filling. */
  process(payload: Uint8Array): Uint8Array {
    let pcm = pcmCodec(this.#from.codec).decode(payload);
    if (this.#resampler) pcm = this.#resampler.process(pcm);
    if (pcm.length === 0) return new Uint8Array(0);
    return pcmCodec(this.#to.codec).encode(pcm);
  }
}
