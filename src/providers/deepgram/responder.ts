/**
 * What the deepgram provider says back. Deepgram only hears (STT) and speaks (TTS); the words in
 * between come from a Responder, so an LLM can be plugged in without touching the wire code. The
 * default answers the caller's words back, which keeps the whole path testable with no model.
 */
import type { ConversationTurn } from '../types.js';

export interface ResponderInput {
  /** The caller's turn, as Deepgram transcribed it. */
  readonly transcript: string;
  /** The conversation before this turn (user transcripts and assistant replies), oldest first. */
  readonly history: readonly ConversationTurn[];
}

export interface Responder {
  /** The reply text for a caller turn. An empty reply says nothing. Must stop when `signal` aborts. */
  respond(input: ResponderInput, opts: { signal: AbortSignal }): Promise<string>;
}

/** Says the caller's words back: the embedded default, and what the tests listen for. */
export class EchoResponder implements Responder {
  async respond(input: ResponderInput, opts: { signal: AbortSignal }): Promise<string> {
    opts.signal.throwIfAborted();
    return `You said: ${input.transcript}`;
  }
}
