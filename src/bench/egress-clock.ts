/**
 * One caller's ear: reply frames in arrival order, played out on a simulated clock (each frame plays
 * for 20 ms after the one before it finishes, as the carrier's buffer does). From it:
 * - late: a frame of a reply (not its first) that arrives after the playout buffer ran dry, more than
 *   `lateBoundMs` after the previous frame finished playing; the caller would hear a gap.
 * - pacing interval: time since the previous frame of the same reply, for frames after the bridge's
 *   start-of-reply lead burst; egress jitter is |interval - 20 ms|.
 * - reply boundaries: by tag (which response a frame belongs to) when frames are tagged, else a mark
 *   or a clear ends a reply.
 * Marks are echoed when the audio sent before them has played; `clear` empties the buffer and echoes
 * the pending marks at once, as the carrier does.
 */
import { FRAME_BYTES, FRAME_MS } from './caller-audio.js';
import type { FrameTag } from './frame-tag.js';
import type { FrameLedger } from './ledger.js';

export interface EgressFrame {
  late: boolean;
  intervalMs: number | undefined;
}

export interface EgressClockOptions {
  readonly call: number;
  readonly tagged: boolean;
  readonly ledger: FrameLedger;
  readonly burstFrames: number;
  readonly lateBoundMs: number;
  readonly onFrame: (at: number, frame: EgressFrame) => void;
  readonly onReplyStart: (at: number, call: number) => void;
}

export class EgressClock {
  readonly #opts: EgressClockOptions;
  /** Marks waiting for their audio to play, with their echo. */
  readonly #marks = new Map<NodeJS.Timeout, () => void>();
  #playoutEnd = -Infinity;
  #current: { id: number; index: number; lastAt: number } | undefined;
  #replies = 0;

  constructor(opts: EgressClockOptions) {
    this.#opts = opts;
  }

  /** One media message: its payload may hold several 20 ms frames (bridges that forward whole deltas). */
  media(bytes: Uint8Array, at: number, readTag: ((bytes: Uint8Array, offset: number) => FrameTag | undefined) | undefined): void {
    const o = this.#opts;
    for (let offset = 0; offset < bytes.length; offset += FRAME_BYTES) {
      let id: number;
      let index: number;
      if (o.tagged && readTag) {
        const info = o.ledger.callerReceived(readTag(bytes, offset), at);
        if (!info) {
          // Untagged (a tone the bridge made itself) or a duplicate: heard, but not part of a reply.
          this.#advance(at);
          o.onFrame(at, { late: false, intervalMs: undefined });
          continue;
        }
        id = info.response;
        index = info.index;
      } else {
        id = this.#current?.id ?? this.#replies;
        index = this.#current ? this.#current.index + 1 : 0;
      }
      const cur = this.#current;
      const sameReply = cur !== undefined && cur.id === id;
      if (!sameReply) {
        this.#replies++;
        o.onReplyStart(at, o.call);
      }
      const late = sameReply && index > 0 && at > this.#playoutEnd + o.lateBoundMs;
      const intervalMs = sameReply && index >= o.burstFrames ? at - cur.lastAt : undefined;
      this.#advance(at);
      this.#current = { id, index, lastAt: at };
      o.onFrame(at, { late, intervalMs });
    }
  }

  #advance(at: number): void {
    this.#playoutEnd = Math.max(at, this.#playoutEnd) + FRAME_MS;
  }

  /** A mark: echo it once everything received before it has played. */
  mark(at: number, echo: () => void): void {
    if (!this.#opts.tagged) this.#current = undefined; // untagged: a mark follows each reply
    const timer = setTimeout(() => {
      this.#marks.delete(timer);
      echo();
    }, Math.max(0, this.#playoutEnd - at));
    this.#marks.set(timer, echo);
  }

  clear(at: number): void {
    this.#playoutEnd = at;
    this.#current = undefined;
    if (this.#opts.tagged) this.#opts.ledger.callerCleared(this.#opts.call, at);
    for (const [timer, echo] of this.#marks) {
      clearTimeout(timer);
      echo();
    }
    this.#marks.clear();
  }

  /** Nothing left to play and no mark waiting. */
  idle(now: number): boolean {
    return this.#playoutEnd <= now && this.#marks.size === 0;
  }

  close(): void {
    for (const t of this.#marks.keys()) clearTimeout(t);
    this.#marks.clear();
  }
}
