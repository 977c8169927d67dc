/**
 * Bookkeeping of a session's model responses: which exist, which are finished or cancelled, and how
 * much audio of each item has arrived, which is what a barge-in may truncate. Pure and synchronous;
 * the session turns its answers into wire events.
 */

/** Responses remembered for barge-in and for matching deltas; older ones are forgotten. */
const MAX_RESPONSES = 32;

export interface ResponseState {
  /** `responseStart` has been emitted (on the first audio delta). */
  started: boolean;
  done: boolean;
  cancelled: boolean;
  /** Audio items of this response, in arrival order, with the audio received for each, in ms. */
  readonly items: { id: string; ms: number }[];
  /** Media time of the next frame, from the response's start. */
  mediaMs: number;
}

export interface InterruptPlan {
  /** The response is still being generated: cancel it. */
  readonly cancel: boolean;
  /** Items to truncate: only ones whose audio has started arriving. */
  readonly truncate: { itemId: string; audioEndMs: number }[];
}

export class ResponseBook {
  readonly #responses = new Map<string, ResponseState>();

  get(id: string | undefined): ResponseState | undefined {
    return id === undefined ? undefined : this.#responses.get(id);
  }

  created(id: string): void {
    this.#responses.set(id, { started: false, done: false, cancelled: false, items: [], mediaMs: 0 });
    if (this.#responses.size > MAX_RESPONSES) {
      const oldest = this.#responses.keys().next().value;
      if (oldest !== undefined) this.#responses.delete(oldest);
    }
  }

  /** Count `ms` of audio for an item; true when the item is new to this response. */
  addAudio(r: ResponseState, itemId: string, ms: number): boolean {
    let item = r.items.find((i) => i.id === itemId);
    const fresh = item === undefined;
    if (!item) {
      item = { id: itemId, ms: 0 };
      r.items.push(item);
    }
    item.ms += ms;
    return fresh;
  }

  /** Responses still being generated, which a new turn supersedes. Marks them cancelled. */
  supersede(): string[] {
    const ids: string[] = [];
    for (const [id, r] of this.#responses) {
      if (!r.done && !r.cancelled) {
        r.cancelled = true;
        ids.push(id);
      }
    }
    return ids;
  }

  /**
   * The caller heard `heardMs` of a response: cancel it if it is still running, and truncate each of
   * its items at what was heard of it, never past the audio that arrived, never an item with none.
   * Undefined when there is nothing to do (unknown or already interrupted).
   */
  interrupt(id: string, heardMs: number): InterruptPlan | undefined {
    const r = this.#responses.get(id);
    if (!r || r.cancelled) return undefined;
    r.cancelled = true;
    let heard = Math.max(0, Math.floor(heardMs));
    const truncate = r.items.map((item) => {
      const audioEndMs = Math.min(heard, Math.floor(item.ms));
      heard -= audioEndMs;
      return { itemId: item.id, audioEndMs };
    });
    return { cancel: !r.done, truncate };
  }
}
