/**
 * The caller audio a provider has not yet been seen to accept, in arrival order, with turn-end
 * markers in the same sequence (so a replay re-asks the turn exactly where it ended). A turn counts as
 * accepted when the provider has finished answering it; until then its frames stay here so a failover
 * can replay them to the next provider. Power-of-two ring: past capacity the oldest entry is
 * overwritten and counted, which bounds memory per call.
 */
import type { WireFrame } from '../pipeline/stages.js';
import type { TurnInfo } from '../providers/types.js';

export type RingEntry = { kind: 'frame'; frame: WireFrame } | { kind: 'turnEnd'; turn: TurnInfo; afterSeq: number };

export class FrameRing {
  readonly #slots: (RingEntry | undefined)[];
  readonly #mask: number;
  #head = 0; // index of the oldest entry
  #size = 0;
  #dropped = 0;
  #pendingTurns = 0;

  constructor(capacity: number) {
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.#slots = new Array<RingEntry | undefined>(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#mask + 1;
  }

  /** Entries overwritten because the ring was full (lost for replay, counted). */
  get dropped(): number {
    return this.#dropped;
  }

  push(entry: RingEntry): void {
    if (this.#size === this.#slots.length) {
      if (this.#slots[this.#head]!.kind === 'turnEnd') this.#pendingTurns--;
      this.#head = (this.#head + 1) & this.#mask;
      this.#size--;
      this.#dropped++;
    }
    if (entry.kind === 'turnEnd') this.#pendingTurns++;
    this.#slots[(this.#head + this.#size) & this.#mask] = entry;
    this.#size++;
  }

  /** The provider finished answering the oldest pending turn: drop it and the audio before it. */
  acceptOldestTurn(): number {
    let n = 0;
    while (this.#size > 0) {
      const e = this.#slots[this.#head]!;
      this.#slots[this.#head] = undefined;
      this.#head = (this.#head + 1) & this.#mask;
      this.#size--;
      n++;
      if (e.kind === 'turnEnd') {
        this.#pendingTurns--;
        return n;
      }
    }
    return n;
  }

  /** Drop frames older than `keep` entries while no turn is pending (silence between turns). */
  trimIdle(keep: number): void {
    while (this.#size > keep) {
      const e = this.#slots[this.#head]!;
      if (e.kind === 'turnEnd') return;
      this.#slots[this.#head] = undefined;
      this.#head = (this.#head + 1) & this.#mask;
      this.#size--;
    }
  }

  get pendingTurns(): number {
    return this.#pendingTurns;
  }

  /** Oldest first; entries from `fromSeq` on when given (turn ends after a frame of that seq or later). */
  entries(fromSeq = -Infinity): RingEntry[] {
    const out: RingEntry[] = [];
    for (let i = 0; i < this.#size; i++) {
      const e = this.#slots[(this.#head + i) & this.#mask]!;
      const seq = e.kind === 'frame' ? e.frame.seq : e.afterSeq + 0.5;
      if (seq >= fromSeq) out.push(e);
    }
    return out;
  }
}
