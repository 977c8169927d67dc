/**
 * Where the ingress graph ends: hands frames to the provider session, holding them in order (with
 * turn-end markers in the same queue) while no session is attached, so audio that arrives during a
 * connect is delivered, not lost. Bounded: past the limit the oldest audio is dropped and counted.
 * With a chunk size over one frame (PROVIDER_AUDIO_CHUNK_MS), frames go to the session joined into
 * chunks (audio-chunker.ts), and a turn's end sends the chunk it completes first.
 */
import type { AudioFrame, EncodedFrame } from '../pipeline/frame.js';
import type { ProviderSession, TurnInfo } from '../providers/types.js';
import { AudioChunker } from './audio-chunker.js';

type Held = { kind: 'audio'; frame: AudioFrame | EncodedFrame } | { kind: 'turnEnd'; turn: TurnInfo };

export class ProviderSink {
  #session: ProviderSession | undefined;
  #held: Held[] = [];
  #heldAudio = 0;
  readonly #limit: number;
  readonly #onDrop: (n: number) => void;
  readonly #onDelivered: (receivedAtMs: number) => void;
  /** Absent: every frame goes on as it comes (chunks of one frame). */
  readonly #chunker: AudioChunker | undefined;
  #framesDelivered = 0;

  constructor(opts: {
    maxHeldFrames: number;
    onDrop: (n: number) => void;
    /** A live frame reached the session (or, while none is attached, this sink), `receivedAtMs` after arrival. */
    onDelivered?: (receivedAtMs: number) => void;
    /** Caller audio per message to the session, ms (at most one frame: no chunks). */
    chunkMs?: number;
  }) {
    this.#limit = opts.maxHeldFrames;
    this.#onDrop = opts.onDrop;
    this.#onDelivered = opts.onDelivered ?? (() => undefined);
    this.#chunker =
      opts.chunkMs !== undefined && opts.chunkMs > 20
        ? new AudioChunker({
            chunkMs: opts.chunkMs,
            // Only called while a session is attached: detach drops what is held.
            emit: (frame, frames) => {
              if (!this.#session) return;
              this.#session.pushAudio(frame);
              this.#framesDelivered += frames;
            },
            onDelivered: this.#onDelivered,
          })
        : undefined;
  }

  get session(): ProviderSession | undefined {
    return this.#session;
  }

  get framesDelivered(): number {
    return this.#framesDelivered;
  }

  get heldFrames(): number {
    return this.#heldAudio;
  }

  /** `receivedAtMs`: the frame's arrival, for its ingress latency; undefined for a replay. */
  write(frame: AudioFrame | EncodedFrame, receivedAtMs?: number): void {
    if (this.#session) {
      if (this.#chunker) {
        this.#chunker.push(frame, receivedAtMs);
        return;
      }
      this.#session.pushAudio(frame);
      this.#framesDelivered++;
      if (receivedAtMs !== undefined) this.#onDelivered(receivedAtMs);
      return;
    }
    if (receivedAtMs !== undefined) this.#onDelivered(receivedAtMs);
    this.#held.push({ kind: 'audio', frame });
    this.#heldAudio++;
    if (this.#heldAudio > this.#limit) {
      const i = this.#held.findIndex((h) => h.kind === 'audio');
      this.#held.splice(i, 1);
      this.#heldAudio--;
      this.#onDrop(1);
    }
  }

  endTurn(turn: TurnInfo): void {
    if (this.#session) {
      this.#chunker?.flush();
      this.#session.endTurn(turn);
    } else this.#held.push({ kind: 'turnEnd', turn });
  }

  /** Send the chunk being filled now (the call ends). */
  flush(): void {
    this.#chunker?.flush();
  }

  /** Attach a session and drain everything held into it, in order. */
  attach(session: ProviderSession): void {
    const held = this.#held;
    this.#held = [];
    this.#heldAudio = 0;
    this.#session = session;
    // Their latency was reported when they reached this sink.
    for (const h of held) {
      if (h.kind === 'audio') this.write(h.frame);
      else this.endTurn(h.turn);
    }
  }

  /**
   * Let the session go. A chunk being filled is dropped, not sent: a retired link's frames are in the
   * call's replay ring, which gives them to the next provider (the call's end flushes first).
   */
  detach(): ProviderSession | undefined {
    const s = this.#session;
    this.#chunker?.drop();
    this.#session = undefined;
    return s;
  }
}
