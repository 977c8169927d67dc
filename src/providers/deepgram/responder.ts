/**
 * What the cascade says back. Deepgram only hears (STT) and speaks (TTS); the words in between come
 * from a Responder as a stream, so the first sentence can be spoken while the rest is still being
 * written. Production uses the LLM (src/providers/llm/chat-responder.ts); `EchoResponder` is a test
 * tool only: nothing in the registry builds it, so no configuration answers "You said".
 */
import type { ConversationTurn } from '../types.js';

export interface ResponderInput {
  /** The caller's turn, as Deepgram transcribed it. */
  readonly transcript: string;
  /** The conversation before this turn (user transcripts and assistant replies), oldest first. */
  readonly history: readonly ConversationTurn[];
  /** System instructions (ASSISTANT_INSTRUCTIONS, or the call's own). */
  readonly instructions?: string;
}

export type ResponderChunk =
  /** More reply text, in order; pieces need not end on word or sentence boundaries. */
  | { readonly type: 'text'; readonly text: string }
  /** The model called end_call: hang up once this reply has played. */
  | { readonly type: 'endCall'; readonly reason: string };

export interface Responder {
  /** The reply to a caller turn, streamed. Must stop when `signal` aborts (a barge-in). */
  respond(input: ResponderInput, opts: { signal: AbortSignal }): AsyncIterable<ResponderChunk>;
  /** Imports what it needs before the gateway takes calls (see Provider.preload). */
  preload?(): Promise<void>;
}

/** Says the caller's words back. For tests and benchmarks only. */
export class EchoResponder implements Responder {
  async *respond(input: ResponderInput, opts: { signal: AbortSignal }): AsyncIterable<ResponderChunk> {
    opts.signal.throwIfAborted();
    yield { type: 'text', text: `You said: ${input.transcript}` };
  }
}
