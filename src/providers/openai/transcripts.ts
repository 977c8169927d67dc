/**
 * Both sides' final transcripts in conversation order. The caller's transcription finishes after the
 * model has started answering, so turns are ordered by when their conversation item appeared (commit
 * for the caller, first audio for the model), not by when their text arrived.
 */
import type { ConversationTurn } from '../types.js';

export class TranscriptLog {
  readonly #order: string[] = [];
  readonly #text = new Map<string, ConversationTurn>();
  #anonymous = 0;

  /** An item exists from here on in the conversation (its text may come later). */
  note(itemId: string | undefined): void {
    if (itemId !== undefined && !this.#text.has(itemId) && !this.#order.includes(itemId)) this.#order.push(itemId);
  }

  record(itemId: string | undefined, turn: ConversationTurn): void {
    const id = itemId ?? `anonymous:${String(this.#anonymous++)}`;
    this.note(id);
    this.#text.set(id, turn);
  }

  get turns(): ConversationTurn[] {
    const out: ConversationTurn[] = [];
    for (const id of this.#order) {
      const turn = this.#text.get(id);
      if (turn) out.push(turn);
    }
    return out;
  }
}
