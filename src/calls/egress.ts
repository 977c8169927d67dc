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
import { ByteQueue } from './byte-queue.js';
import type { ChunkPool } from './chunk-pool.js';
import { EgressClock, type ClockMember } from './egress-clock.js';
import { pcmCodec, type PcmCodec } from '../pipeline/codecs/wire-codec.js';
import type { AudioFrame, EncodedFrame, WireFormat } from '../pipeline/frame.js';
import { Resampler } from '../pipeline/resample/resampler.js';

export interface EgressSink {
  /**
   * One media message: `frames` whole frames of the wire format (1 unless `framesPerMessage` > 1).
   * `payload` is lent for the call only (a view into the egress's queue): use it before returning.
   */
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
  /** The process's byte chunks (gateway.ts) for the queued audio; without it the egress keeps its own. */
  readonly chunks?: ChunkPool;
}

/**
 * Queued frames of one reply in a row, then its end mark when the reply is complete. The frames' bytes
 * are in `#audio`, in the same order: an object per reply, none per frame.
 */
interface Run {
  readonly responseId: string;
  frames: number;
  mark: string | undefined;
}

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
  /** The start of a frame of carrier-codec bytes, waiting for the rest of it (`#partialBytes` long). */
  readonly #partial: Uint8Array;
  #partialBytes = 0;
  /** Queued audio bytes, whole frames only; which reply each belongs to is in `#runs`. */
  readonly #audio: ByteQueue;
  readonly #runs: Run[] = [];
  #queuedFrames = 0;
  /** On the clock (audio waits to be due). */
  #paced = false;
  /**
   * What one pump writes, in order: a number is a media message of that many frames (its bytes are
   * taken off `#audio` as it is written), a string a mark. Reused: no allocation per tick.
   */
  readonly #out: (number | string)[] = [];
  #writing = false;
  /** New audio came while writing: pump again once the write is done. */
  #repump = false;
  /** Counts `clear()`s, so a write that a clear interrupts stops. */
  #clears = 0;
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
    this.#partial = new Uint8Array(this.#frameBytes);
    this.#audio = new ByteQueue(opts.chunks);
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
    if (this.#partialBytes > 0) {
      this.#partial.fill(this.#codec.silenceByte, this.#partialBytes);
      this.#partialBytes = 0;
      this.#enqueueAudio(this.#partial, responseId);
    }
    if (this.#resampler) this.#appendPcm(this.#resampler.flush(), responseId);
    if (this.#pending.length > 0) {
      const padded = new Int16Array(this.#frameSamples);
      padded.set(this.#pending);
      this.#pending = new Int16Array(0);
      this.#enqueueAudio(this.#codec.encode(padded), responseId);
    }
    this.#runOf(responseId).mark = `end:${responseId}`;
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
    this.#clears++;
    this.#audio.clear();
    this.#runs.length = 0;
    this.#queuedFrames = 0;
    this.#pending = new Int16Array(0);
    this.#partialBytes = 0;
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
    this.#partialBytes = 0;
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

  /**
   * Carrier-codec bytes straight from the provider: cut into frames, no decode or encode. A frame
   * split across two deltas is put together in `#partial`; whole frames are copied into the queue.
   */
  #appendEncoded(bytes: Uint8Array, responseId: string): void {
    const frameBytes = this.#frameBytes;
    let offset = 0;
    if (this.#partialBytes > 0) {
      offset = Math.min(frameBytes - this.#partialBytes, bytes.length);
      this.#partial.set(bytes.subarray(0, offset), this.#partialBytes);
      this.#partialBytes += offset;
      if (this.#partialBytes < frameBytes) return;
      this.#partialBytes = 0;
      this.#enqueueAudio(this.#partial, responseId);
    }
    const whole = Math.floor((bytes.length - offset) / frameBytes) * frameBytes;
    if (whole > 0) this.#enqueueAudio(bytes.subarray(offset, offset + whole), responseId);
    offset += whole;
    if (offset < bytes.length) {
      this.#partial.set(bytes.subarray(offset), 0);
      this.#partialBytes = bytes.length - offset;
    }
    this.#kick();
  }

  /** The run that takes `responseId`'s next frames: the last one, unless it is another reply's or ended. */
  #runOf(responseId: string): Run {
    const last = this.#runs.at(-1);
    if (last !== undefined && last.responseId === responseId && last.mark === undefined) return last;
    const run: Run = { responseId, frames: 0, mark: undefined };
    this.#runs.push(run);
    return run;
  }

  /** Whole frames of one reply (a multiple of the frame size), copied into the queue. */
  #enqueueAudio(bytes: Uint8Array, responseId: string): void {
    const frames = bytes.length / this.#frameBytes;
    this.#audio.push(bytes);
    this.#runOf(responseId).frames += frames;
    this.#queuedFrames += frames;
    // While a write is on, the bytes at the head are its messages': the bound is kept once it is done.
    if (this.#queuedFrames > this.#maxQueueFrames && !this.#writing) this.#dropOldest(this.#queuedFrames - this.#maxQueueFrames);
  }

  /** A caller too slow to drain us: drop the oldest audio, keep the marks so accounting stays right. */
  #dropOldest(frames: number): void {
    let left = frames;
    for (const run of this.#runs) {
      const n = Math.min(left, run.frames);
      run.frames -= n;
      left -= n;
      if (left === 0) break;
    }
    this.#audio.drop(frames * this.#frameBytes);
    this.#queuedFrames -= frames;
    this.#onDrop(frames);
  }

  /** New audio or a mark: while off the clock, what is due goes out now (a reply's lead burst). */
  #kick(): void {
    if (this.#writing) {
      this.#repump = true;
      return;
    }
    if (this.#paced || this.#runs.length === 0) return;
    this.#pump(undefined);
  }

  /** Called by the clock on each tick while this egress has audio waiting. */
  onTick(dueBy: number): void {
    if (!this.#writing) this.#pump(dueBy);
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
    // latest tick reached (or now, when the clock is idle: it would start its schedule now). Otherwise a
    // frame that comes due between two ticks, at a time when its egress was off the clock, would wait
    // for the next tick and reach the caller up to a tick late, which the clock never meant. "Reached",
    // not "at or before now": a tick Node fired a little early has run, and audio arriving right
    // after it was otherwise measured against the tick before and held a whole tick.
    const limit = (dueBy ?? this.#clock.tickReached(now)) + this.#frameMs - 1e-6;
    const out = this.#out;
    const runs = this.#runs;
    while (runs.length > 0) {
      const run = runs[0];
      if (run.frames === 0) {
        // A reply's frames all went: its end mark follows them (one still arriving gets a new run).
        runs.shift();
        if (run.mark !== undefined) {
          this.#pendingMarks.set(run.mark, { responseId: run.responseId, atFrame: this.#framesSent });
          out.push(run.mark);
        }
        continue;
      }
      if (this.#playoutEnd - this.#leadMs >= limit) break;
      // This frame is due; frames of the same reply queued right behind it may join its message.
      const frames = Math.min(this.#framesPerMessage, run.frames);
      for (let i = 0; i < frames; i++) this.#account(run.responseId, now, dueBy, limit);
      run.frames -= frames;
      this.#queuedFrames -= frames;
      out.push(frames);
    }
    const waiting = this.#queuedFrames > 0;
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

  /**
   * One pump's messages, in order; more than one leave the socket as one write. Each media message's
   * bytes come off the queue as it is written (lent to the sink for the call).
   */
  #write(out: (number | string)[]): void {
    if (out.length === 0) return;
    const sink = this.#sink;
    const cork = out.length > 1 && sink.cork !== undefined && sink.uncork !== undefined;
    if (cork) sink.cork?.();
    const clears = this.#clears;
    this.#writing = true;
    try {
      for (const item of out) {
        // A sink that led to a barge-in (clear) while we write: what was planned is gone with it.
        if (this.#clears !== clears) break;
        if (typeof item === 'number') sink.sendMedia(this.#audio.shift(item * this.#frameBytes), item);
        else sink.sendMark(item);
      }
    } finally {
      out.length = 0;
      this.#writing = false;
      if (cork) sink.uncork?.();
    }
    if (this.#queuedFrames > this.#maxQueueFrames) this.#dropOldest(this.#queuedFrames - this.#maxQueueFrames);
    if (this.#repump) {
      this.#repump = false;
      this.#kick();
    }
  }
}
