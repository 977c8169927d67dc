/**
 * A call's egress: provider audio -> resample to the carrier rate -> encode -> 20 ms frames -> a
 * bounded queue paced in real time to the caller, with a mark after each reply so we learn what the
 * caller actually heard. Pacing here (instead of bursting whole replies to the carrier) is what makes
 * barge-in instant: on `clear()` nothing is left queued anywhere but the short lead.
 *
 * Frames are paced by the process's one EgressClock (issue 16), not by a timer per call: the egress is
 * on the clock while it has audio queued, and each tick writes the frames that came due, together
 * (corking the socket when there is more than one message).
 */
import { EgressClock, type ClockMember } from './egress-clock.js';
import { pcmCodec, type PcmCodec } from '../pipeline/codecs/wire-codec.js';
import type { AudioFrame, EncodedFrame, WireFormat } from '../pipeline/frame.js';
import { Resampler } from '../pipeline/resample/resampler.js';

export interface EgressSink {
  /** One media message: `frames` whole frames of the wire format (1 unless `framesPerMessage` > 1). */
  sendMedia(payload: Uint8Array, frames: number): void;
  sendMark(name: string): void;
  /**
   * Hold writes until `uncork` (the TCP socket's cork): called around a tick's writes when there is
   * more than one (frames and a mark, a late tick's frames, a lead burst), so they leave in one send.
   */
  cork?(): void;
  uncork?(): void;
}

export interface EgressOptions {
  readonly format: WireFormat;
  readonly sink: EgressSink;
  readonly frameMs?: number;
  /** Audio sent ahead of real time so carrier jitter does not starve playback. */
  readonly leadMs: number;
  readonly maxQueueMs: number;
  /**
   * Most frames one media message carries (default 1). When a frame comes due and the ones after it
   * are already queued, up to this many go together, ahead of their time by up to (n - 1) frames: one
   * message, one base64 text and one socket write instead of n. It never waits for audio to fill a
   * message, so it adds no delay. Only for a far end that takes several frames per media message and
   * drops what it buffered on `clear` (Twilio, Telnyx), so the audio sent early is not heard after a
   * barge-in.
   */
  readonly framesPerMessage?: number;
  readonly onDrop: (frames: number) => void;
  /** The carrier confirmed a whole reply played (its end mark came back). */
  readonly onPlayed?: (responseId: string) => void;
  /** The first frame of a reply went out, `ms` after its first provider audio arrived. */
  readonly onFirstFrame?: (ms: number) => void;
  /**
   * A paced frame went out: one that waited in the queue for its time and was written by a clock tick.
   * In ms, |time written - time due|, where its due time is the clock's last scheduled tick at or
   * before the moment the audio sent ahead of it fell to the lead. So it is the clock's lateness (or
   * earliness) as this frame saw it, including the time spent writing other calls' frames earlier in
   * the same tick; it does not add up over a reply. Frames written at once on arrival (a reply's lead
   * burst, a refill after the queue ran dry) are not counted.
   */
  readonly onPacingJitter?: (ms: number) => void;
  /** The process's egress clock. Without one the egress makes its own (a timer of its own: tools, tests). */
  readonly clock?: EgressClock;
  /** Monotonic ms for the egress's own clock when none is given (ignored with `clock`). */
  readonly now?: () => number;
}

type Item = { kind: 'audio'; payload: Uint8Array; responseId: string } | { kind: 'mark'; name: string; responseId: string };

interface ResponsePlayback {
  sentFrames: number;
  firstSentAt: number;
  ackedMs: number;
}

export class Egress implements ClockMember {
  readonly #codec: PcmCodec;
  readonly #format: WireFormat;
  readonly #sink: EgressSink;
  readonly #frameSamples: number;
  readonly #frameMs: number;
  readonly #leadMs: number;
  readonly #maxQueueFrames: number;
  readonly #framesPerMessage: number;
  readonly #frameBytes: number;
  readonly #onDrop: (frames: number) => void;
  readonly #clock: EgressClock;
  readonly #opts: EgressOptions;
  #resampler: Resampler | undefined;
  #pending: Int16Array = new Int16Array(0);
  #pendingBytes: Uint8Array = new Uint8Array(0);
  #queue: Item[] = [];
  #queuedFrames = 0;
  /** On the clock (audio waits to be due). */
  #paced = false;
  /** The items one pump writes, kept to write them together (reused: no allocation per tick). */
  readonly #out: Item[] = [];
  #writing = false;
  #playoutEnd = 0;
  #pendingMarks = new Map<string, { responseId: string; atFrame: number }>();
  #playback = new Map<string, ResponsePlayback>();
  #currentResponse: string | undefined;
  #responseStartedAt = new Map<string, number>();
  #framesSent = 0;
  #closed = false;

  constructor(opts: EgressOptions) {
    this.#opts = opts;
    this.#format = opts.format;
    this.#codec = pcmCodec(opts.format.codec);
    this.#sink = opts.sink;
    this.#frameMs = opts.frameMs ?? 20;
    this.#frameSamples = (opts.format.sampleRate * this.#frameMs) / 1000;
    this.#leadMs = opts.leadMs;
    this.#maxQueueFrames = Math.ceil(opts.maxQueueMs / this.#frameMs);
    this.#framesPerMessage = Math.max(1, Math.floor(opts.framesPerMessage ?? 1));
    this.#frameBytes = this.#frameSamples * this.#codec.bytesPerSample;
    this.#onDrop = opts.onDrop;
    this.#clock = opts.clock ?? new EgressClock({ frameMs: this.#frameMs, now: opts.now });
  }

  #now(): number {
    return this.#clock.now();
  }

  get framesSent(): number {
    return this.#framesSent;
  }

  get queuedFrames(): number {
    return this.#queuedFrames;
  }

  /**
   * Bot audio is queued here, or sent but not yet confirmed played, or sent and still ahead of real
   * time at the carrier (up to the lead: with a lead longer than what waits here, a reply can be
   * wholly sent and still have audio to play, which a barge-in or a switch must `clear`).
   */
  get playing(): boolean {
    return this.#queuedFrames > 0 || this.#pendingMarks.size > 0 || this.#playoutEnd > this.#now();
  }

  get currentResponseId(): string | undefined {
    return this.#currentResponse;
  }

  /** Queue provider audio of one reply. */
  pushAudio(frame: AudioFrame | EncodedFrame, responseId: string): void {
    if (this.#closed) return;
    if (responseId !== this.#currentResponse) this.#startResponse(responseId);
    if ('payload' in frame) {
      if (frame.codec === this.#format.codec && frame.sampleRate === this.#format.sampleRate && this.#pending.length === 0) {
        this.#appendEncoded(frame.payload, responseId);
        return;
      }
      if (frame.codec === 'opus') return; // never negotiated for telephony egress
      frame = { samples: pcmCodec(frame.codec).decode(frame.payload), sampleRate: frame.sampleRate, seq: frame.seq, timestampMs: frame.timestampMs };
    }
    let samples = frame.samples;
    if (frame.sampleRate !== this.#format.sampleRate) {
      if (!this.#resampler || this.#resampler.from !== frame.sampleRate) {
        this.#resampler = new Resampler({ from: frame.sampleRate, to: this.#format.sampleRate });
      }
      samples = this.#resampler.process(samples);
    }
    this.#appendPcm(samples, responseId);
  }

  /** The reply is complete: send what is left (padded to a whole frame) and a mark after it. */
  endResponse(responseId: string): void {
    if (this.#closed || responseId !== this.#currentResponse) return;
    if (this.#pendingBytes.length > 0) {
      const frameBytes = this.#frameSamples * this.#codec.bytesPerSample;
      const padded = new Uint8Array(frameBytes).fill(this.#codec.silenceByte);
      padded.set(this.#pendingBytes);
      this.#pendingBytes = new Uint8Array(0);
      this.#enqueueAudio(padded, responseId);
    }
    if (this.#resampler) this.#appendPcm(this.#resampler.flush(), responseId);
    if (this.#pending.length > 0) {
      const padded = new Int16Array(this.#frameSamples);
      padded.set(this.#pending);
      this.#pending = new Int16Array(0);
      this.#enqueueAudio(this.#codec.encode(padded), responseId);
    }
    this.#queue.push({ kind: 'mark', name: `end:${responseId}`, responseId });
    this.#currentResponse = undefined;
    this.#resampler = undefined;
    this.#kick();
  }

  /** The carrier echoed a mark: everything before it has been played. */
  onMark(name: string): void {
    const mark = this.#pendingMarks.get(name);
    if (!mark) return;
    this.#pendingMarks.delete(name);
    const playback = this.#playback.get(mark.responseId);
    if (playback) playback.ackedMs = playback.sentFrames * this.#frameMs;
    if (name.startsWith('end:')) {
      this.#playback.delete(mark.responseId);
      this.#opts.onPlayed?.(mark.responseId);
    }
  }

  /** How much of a reply the caller has heard: confirmed by marks, else estimated from send times. */
  heardMs(responseId: string): number {
    const p = this.#playback.get(responseId);
    if (!p) return 0;
    const sentMs = p.sentFrames * this.#frameMs;
    const elapsed = Math.max(0, this.#now() - p.firstSentAt);
    return Math.round(Math.max(p.ackedMs, Math.min(sentMs, elapsed)));
  }

  /** Barge-in: drop everything queued. Returns the number of audio frames dropped. */
  clear(): number {
    const dropped = this.#queuedFrames;
    this.#queue = [];
    this.#queuedFrames = 0;
    this.#pending = new Int16Array(0);
    this.#pendingBytes = new Uint8Array(0);
    this.#resampler = undefined;
    this.#currentResponse = undefined;
    this.#pendingMarks.clear();
    this.#playback.clear();
    this.#responseStartedAt.clear();
    this.#stopClock();
    return dropped;
  }

  close(): void {
    this.#closed = true;
    this.clear();
  }

  #startResponse(responseId: string): void {
    this.#currentResponse = responseId;
    this.#responseStartedAt.set(responseId, this.#now());
    this.#pending = new Int16Array(0);
    this.#pendingBytes = new Uint8Array(0);
    this.#resampler = undefined;
  }

  #appendPcm(samples: Int16Array, responseId: string): void {
    if (samples.length === 0) return;
    let data = samples;
    if (this.#pending.length > 0) {
      data = new Int16Array(this.#pending.length + samples.length);
      data.set(this.#pending);
      data.set(samples, this.#pending.length);
    }
    const n = this.#frameSamples;
    let offset = 0;
    for (; offset + n <= data.length; offset += n) {
      this.#enqueueAudio(this.#codec.encode(data.subarray(offset, offset + n)), responseId);
    }
    this.#pending = data.slice(offset);
    this.#kick();
  }

  /** Carrier-codec bytes straight from the provider: cut into frames, no decode or encode. */
  #appendEncoded(bytes: Uint8Array, responseId: string): void {
    const frameBytes = this.#frameSamples * this.#codec.bytesPerSample;
    let data = bytes;
    if (this.#pendingBytes.length > 0) {
      data = new Uint8Array(this.#pendingBytes.length + bytes.length);
      data.set(this.#pendingBytes);
      data.set(bytes, this.#pendingBytes.length);
    }
    let offset = 0;
    for (; offset + frameBytes <= data.length; offset += frameBytes) this.#enqueueAudio(data.slice(offset, offset + frameBytes), responseId);
    this.#pendingBytes = data.slice(offset);
    this.#kick();
  }

  #enqueueAudio(payload: Uint8Array, responseId: string): void {
    this.#queue.push({ kind: 'audio', payload, responseId });
    this.#queuedFrames++;
    if (this.#queuedFrames > this.#maxQueueFrames) {
      // A caller too slow to drain us: drop the oldest audio, keep marks so accounting stays right.
      const i = this.#queue.findIndex((it) => it.kind === 'audio');
      this.#queue.splice(i, 1);
      this.#queuedFrames--;
      this.#onDrop(1);
    }
  }

  /** New audio or a mark: while off the clock, what is due goes out now (a reply's lead burst). */
  #kick(): void {
    if (this.#paced || this.#queue.length === 0) return;
    this.#pump(undefined);
  }

  /** Called by the clock on each tick while this egress has audio waiting. */
  onTick(dueBy: number): void {
    this.#pump(dueBy);
  }

  #stopClock(): void {
    if (this.#paced) this.#clock.remove(this);
    this.#paced = false;
    this.#playoutEnd = 0;
  }

  /**
   * Send while the carrier holds less than the lead of unplayed audio; what waits goes on the clock.
   * `#playoutEnd` is when everything sent so far finishes playing at the carrier, so a reply that
   * arrives in one burst and one that trickles in frame by frame are paced alike. On a tick (`dueBy`
   * set) a frame goes if the lead would be reached before the next scheduled tick, so the caller's
   * buffer never dips below the lead between ticks, and a late tick sends the frames of the ticks it
   * stands for and no more; off the clock, by now.
   */
  #pump(dueBy: number | undefined): void {
    const now = this.#now();
    // A frame goes on the last tick at or before its due time; one due exactly at the next tick waits
    // for it (the margin absorbs float error). Off the clock the same rule holds against the clock's
    // latest tick (or now, when the clock is idle: it would start its schedule now). Otherwise a frame
    // that comes due between two ticks, at a time when its egress was off the clock, would wait for the
    // next tick and reach the caller up to a tick late, which the clock never meant.
    const limit = (dueBy ?? this.#clock.tickAtOrBefore(now)) + this.#frameMs - 1e-6;
    // A sink that pushed audio back into this egress while it writes would get a list of its own.
    const out = this.#writing ? [] : this.#out;
    while (this.#queue.length > 0) {
      const item = this.#queue[0];
      if (item.kind === 'mark') {
        this.#queue.shift();
        this.#pendingMarks.set(item.name, { responseId: item.responseId, atFrame: this.#framesSent });
        out.push(item);
        continue;
      }
      if (this.#playoutEnd - this.#leadMs >= limit) break;
      // This frame is due; frames of the same reply queued right behind it may join its message.
      let frames = 0;
      while (frames < this.#framesPerMessage && frames < this.#queue.length) {
        const next = this.#queue[frames];
        if (next.kind !== 'audio' || next.responseId !== item.responseId) break;
        this.#account(next.responseId, now, dueBy, limit);
        frames++;
      }
      if (frames === 1) out.push(this.#queue.shift()!);
      else out.push({ kind: 'audio', payload: this.#joinFrames(frames), responseId: item.responseId });
      this.#queuedFrames -= frames;
    }
    const waiting = this.#queue.length > 0;
    if (waiting !== this.#paced) {
      this.#paced = waiting;
      if (waiting) this.#clock.add(this);
      else this.#clock.remove(this);
    }
    this.#write(out);
  }

  /**
   * A frame leaves: counted as sent, the carrier's playout extended, its reply's first frame timed, and
   * (written by a tick and due by it) its pacing jitter reported. A frame sent early in a message
   * with a due one is not pacing: it is not reported.
   */
  #account(responseId: string, now: number, dueBy: number | undefined, limit: number): void {
    const dueAt = this.#playoutEnd - this.#leadMs;
    this.#framesSent++;
    this.#playoutEnd = Math.max(now, this.#playoutEnd) + this.#frameMs;
    let playback = this.#playback.get(responseId);
    if (!playback) {
      playback = { sentFrames: 0, firstSentAt: now, ackedMs: 0 };
      this.#playback.set(responseId, playback);
      const startedAt = this.#responseStartedAt.get(responseId);
      this.#responseStartedAt.delete(responseId);
      if (startedAt !== undefined) this.#opts.onFirstFrame?.(now - startedAt);
    }
    playback.sentFrames++;
    // Written by a tick, the frame waited for its time: pacing. Off the clock it went on arrival: a burst.
    if (dueBy !== undefined && dueAt < limit) this.#opts.onPacingJitter?.(Math.abs(now - this.#clock.tickAtOrBefore(dueAt)));
  }

  /** The first `frames` queued audio items, taken off the queue, as one payload. */
  #joinFrames(frames: number): Uint8Array {
    const payload = new Uint8Array(frames * this.#frameBytes);
    let at = 0;
    for (let i = 0; i < frames; i++) {
      const item = this.#queue.shift() as Extract<Item, { kind: 'audio' }>;
      payload.set(item.payload, at);
      at += item.payload.length;
    }
    return at === payload.length ? payload : payload.subarray(0, at);
  }

  /** One tick's messages, in order; more than one leave the socket as one write. */
  #write(out: Item[]): void {
    if (out.length === 0) return;
    const sink = this.#sink;
    const cork = out.length > 1 && sink.cork !== undefined && sink.uncork !== undefined;
    if (cork) sink.cork?.();
    const shared = out === this.#out;
    if (shared) this.#writing = true;
    try {
      for (const item of out) {
        if (item.kind === 'audio') sink.sendMedia(item.payload, Math.max(1, Math.round(item.payload.length / this.#frameBytes)));
        else sink.sendMark(item.name);
      }
    } finally {
      out.length = 0;
      if (shared) this.#writing = false;
      if (cork) sink.uncork?.();
    }
  }
}
