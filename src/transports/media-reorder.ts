/**
 * Puts inbound media frames back in order by their chunk number within a small window. Telnyx does
 * not promise frame order ("Media frame order is not guaranteed. Use media.chunk, media.timestamp,
 * and sequence_number to order frames when required":
 * https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket).
 *
 * A frame in order passes at once. A frame ahead of a gap is held until the gap fills or `window`
 * frames are held, then the gap is given up (the missing frames are lost, not waited for forever).
 * A frame behind what was already passed is dropped: `late` when its place was skipped, `duplicate`
 * when it was passed before. Frames without a usable chunk number pass as they come.
 */
export type ReorderVerdict = 'in_order' | 'reordered' | 'held' | 'late' | 'duplicate';

export class MediaReorder<T> {
  readonly #window: number;
  readonly #held = new Map<number, T>();
  /** Chunk numbers given up on (skipped gaps), so a straggler counts as late, not as a duplicate. */
  readonly #skipped = new Set<number>();
  #next: number | undefined;

  constructor(window = 3) {
    this.#window = window;
  }

  /** Frames to pass on now, in order, and what happened to this one. */
  push(chunk: number | undefined, item: T): { out: T[]; verdict: ReorderVerdict } {
    if (chunk === undefined) return { out: [item], verdict: 'in_order' };
    if (this.#next === undefined || chunk === this.#next) {
      const filledGap = this.#next !== undefined && this.#held.size > 0;
      this.#next = chunk + 1;
      const out = [item];
      this.#drain(out);
      return { out, verdict: filledGap ? 'reordered' : 'in_order' };
    }
    if (chunk < this.#next) return { out: [], verdict: this.#skipped.has(chunk) ? 'late' : 'duplicate' };
    if (this.#held.has(chunk)) return { out: [], verdict: 'duplicate' };
    this.#held.set(chunk, item);
    if (this.#held.size <= this.#window) return { out: [], verdict: 'held' };
    // Waited long enough: give up the gap and pass what is held from the lowest chunk on.
    const lowest = Math.min(...this.#held.keys());
    for (let c = this.#next; c < lowest; c++) this.#remember(c);
    this.#next = lowest;
    const out: T[] = [];
    this.#drain(out);
    return { out, verdict: 'held' };
  }

  /** The stream ended: whatever is held, in chunk order (gaps given up). Nothing buffered is lost. */
  flush(): T[] {
    const out = [...this.#held.entries()].sort((a, b) => a[0] - b[0]).map(([, item]) => item);
    this.#held.clear();
    return out;
  }

  #drain(out: T[]): void {
    for (let item = this.#held.get(this.#next!); item !== undefined; item = this.#held.get(this.#next!)) {
      this.#held.delete(this.#next!);
      out.push(item);
      this.#next! += 1;
    }
  }

  #remember(chunk: number): void {
    this.#skipped.add(chunk);
    if (this.#skipped.size > 256) this.#skipped.delete(this.#skipped.values().next().value!);
  }
}

/** A media chunk number as the carriers write it (a decimal string, or a number); else undefined. */
export function chunkNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
