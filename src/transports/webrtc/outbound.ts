/**
 * The sending side's two clocks, pure and driven by the caller's `nowMs`:
 *
 * - `RtpClock` numbers outbound RTP: sequence +1 per packet; timestamp +frame per packet within a
 *   talkspurt, and advanced by the wall-clock pause when audio resumes after an idle gap (with the
 *   marker bit set), as RFC 3551 asks, so the browser's jitter buffer does not read a pause as delay.
 *
 * - `PlayoutClock` tells when audio handed to the browser has been heard. There is no carrier to echo
 *   our marks, so a mark is echoed when everything sent before it has had time to play: frames play
 *   back to back from when they are sent (egress sends a short lead ahead of real time, so sends run
 *   ahead of playout), plus an allowance for the network and the browser's own jitter buffer.
 */

const UINT32 = 0x1_0000_0000;

export interface RtpStamp {
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly marker: boolean;
}

export interface RtpClockOptions {
  readonly clockRate: number;
  readonly frameSamples: number;
  /** A pause longer than this starts a new talkspurt. */
  readonly idleMs?: number;
  /** Random by default, as RFC 3550 asks; fixed in tests. */
  readonly initialSequence?: number;
  readonly initialTimestamp?: number;
}

export class RtpClock {
  readonly #clockRate: number;
  readonly #frameSamples: number;
  readonly #idleMs: number;
  #seq: number;
  #timestamp: number;
  #lastSentMs: number | undefined;

  constructor(opts: RtpClockOptions) {
    this.#clockRate = opts.clockRate;
    this.#frameSamples = opts.frameSamples;
    this.#idleMs = opts.idleMs ?? (3 * opts.frameSamples * 1000) / opts.clockRate;
    this.#seq = opts.initialSequence ?? Math.floor(Math.random() * 0x10000);
    this.#timestamp = opts.initialTimestamp ?? Math.floor(Math.random() * UINT32);
  }

  /** Stamp for the next packet, sent at `nowMs`. */
  next(nowMs: number): RtpStamp {
    let marker = false;
    if (this.#lastSentMs === undefined) marker = true;
    else {
      const pauseMs = nowMs - this.#lastSentMs;
      if (pauseMs > this.#idleMs) {
        // New talkspurt: the timestamp moves on by the time that passed, not just one frame.
        marker = true;
        this.#timestamp = (this.#timestamp + Math.round((pauseMs * this.#clockRate) / 1000) - this.#frameSamples) % UINT32;
      }
    }
    const stamp = { sequenceNumber: this.#seq, timestamp: this.#timestamp, marker };
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + this.#frameSamples) % UINT32;
    this.#lastSentMs = nowMs;
    return stamp;
  }
}

export class PlayoutClock {
  readonly #frameMs: number;
  readonly #receiverDelayMs: number;
  /** When the last frame sent will have finished playing, not counting the receiver delay. */
  #endMs = 0;

  /** `receiverDelayMs`: network plus the browser's jitter buffer, typically 40-80 ms on a LAN. */
  constructor(opts: { frameMs: number; receiverDelayMs: number }) {
    this.#frameMs = opts.frameMs;
    this.#receiverDelayMs = opts.receiverDelayMs;
  }

  frameSent(nowMs: number): void {
    this.#endMs = Math.max(this.#endMs, nowMs) + this.#frameMs;
  }

  /** Milliseconds from `nowMs` until everything sent so far has been heard. */
  heardInMs(nowMs: number): number {
    return Math.max(0, this.#endMs + this.#receiverDelayMs - nowMs);
  }

  /** Barge-in: what was queued at the browser is abandoned by the caller talking over it. */
  reset(nowMs: number): void {
    this.#endMs = nowMs;
  }
}
