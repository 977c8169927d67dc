/**
 * Which caller audio and which words a new provider must be given: the pure bookkeeping behind a
 * zero-loss switch. Caller frames and turn ends go into a replay ring (frame-ring.ts); a turn is
 * pending from its end until it is accepted, and only then are its frames dropped and its
 * transcripts committed to the history. A turn is accepted when the caller has heard its answer to
 * the end, has spoken over it, or has ended a newer turn; an answered turn the caller has not heard
 * yet is asked again of the next provider. Synchronous, no timers, no I/O.
 */
import type { WireFrame } from '../pipeline/stages.js';
import type { ConversationTurn, TurnInfo } from '../providers/types.js';
import type { ChunkPool } from './chunk-pool.js';
import { FrameRing, type RingEntry } from './frame-ring.js';

const IDLE_KEEP_FRAMES = 50; // 1 s of lead-in kept while nobody speaks, so a turn's start is never trimmed

export class TurnLedger {
  readonly #ring: FrameRing;
  readonly #history: ConversationTurn[] = [];
  /** Final transcripts of the turns being answered, committed to history when a turn is accepted. */
  #pendingHistory: ConversationTurn[] = [];
  /** Pending turns the provider has finished answering (the caller may not have heard them yet). */
  #answeredNotPlayed = 0;
  #nextSeq = 0;

  constructor(capacity: number, pool?: ChunkPool) {
    this.#ring = new FrameRing(capacity, pool);
  }

  /** The conversation so far: the turns accepted, as text. */
  get history(): readonly ConversationTurn[] {
    return this.#history;
  }

  get pendingTurns(): number {
    return this.#ring.pendingTurns;
  }

  /** The sequence number after the last frame seen. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** A pending turn still waits for the provider's answer. */
  get awaitingAnswer(): boolean {
    return this.#ring.pendingTurns > this.#answeredNotPlayed;
  }

  /** A caller frame; while no turn is pending and the caller is silent, only a short lead-in is kept. */
  frame(frame: WireFrame, callerSpeaking: boolean): void {
    this.#nextSeq = frame.seq + 1;
    this.#ring.push({ kind: 'frame', frame });
    if (this.#ring.pendingTurns === 0 && !callerSpeaking) this.#ring.trimIdle(IDLE_KEEP_FRAMES);
  }

  /** The caller's turn ended after the frames seen so far; answers already given count as taken. */
  turnEnded(turn: TurnInfo): void {
    while (this.#answeredNotPlayed > 0) this.#accept();
    this.#ring.push({ kind: 'turnEnd', turn, afterSeq: this.#nextSeq - 1 });
  }

  /** The provider finished answering the oldest turn still waiting (responseDone). */
  answered(): void {
    if (this.awaitingAnswer) this.#answeredNotPlayed++;
  }

  /** The provider found nothing to answer in the oldest waiting turn: done with once those before it are heard. */
  answeredEmpty(): void {
    if (!this.awaitingAnswer) return;
    if (this.#answeredNotPlayed === 0) this.#accept();
    else this.#answeredNotPlayed++;
  }

  /** The caller heard an answer to the end. */
  heard(): void {
    if (this.#answeredNotPlayed > 0) this.#accept();
  }

  /** The caller spoke over an answer: its turn is over for the caller and is not asked again. */
  interrupted(): void {
    if (this.#answeredNotPlayed > 0 || this.#ring.pendingTurns > 0) this.#accept();
  }

  /** A final transcript of the turns being answered. */
  transcript(turn: ConversationTurn): void {
    this.#pendingHistory.push(turn);
  }

  /** The provider changes: answers the caller has not heard to the end are asked again, words and all. */
  restartAnswers(): void {
    this.#answeredNotPlayed = 0;
    this.#pendingHistory = [];
  }

  /** What a new provider is given, oldest first (from a sequence number on, when given). */
  entries(fromSeq?: number): RingEntry[] {
    return this.#ring.entries(fromSeq);
  }

  #accept(): void {
    this.#ring.acceptOldestTurn();
    if (this.#answeredNotPlayed > 0) this.#answeredNotPlayed--;
    this.#history.push(...this.#pendingHistory);
    this.#pendingHistory = [];
  }
}
