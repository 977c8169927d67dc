/**
 * The provider contract. A Provider opens ProviderSessions; a session takes caller audio by push and
 * gives back events by async iteration. Real adapters (OpenAI, Gemini, Deepgram) and the embedded
 * echo provider all have this shape, so the call and the failover switch never special-case one.
 */
import type { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../pipeline/frame.js';

export interface ConversationTurn {
  readonly role: 'user' | 'assistant';
  readonly text: string;
}

/** A caller turn as our VAD saw it, in call media time. */
export interface TurnInfo {
  readonly startMs: number;
  readonly endMs: number;
}

export type ProviderEvent =
  | { type: 'responseStart'; responseId: string }
  /** Provider audio: PCM16, or encoded in the caller's codec when the provider speaks it (G.711 passthrough). */
  | { type: 'audio'; responseId: string; frame: AudioFrame | EncodedFrame }
  | { type: 'responseDone'; responseId: string }
  | { type: 'transcript'; role: 'user' | 'assistant'; text: string; final: boolean }
  /** Provider-side VAD heard the caller start or stop (server VAD modes). */
  | { type: 'speechStarted' }
  | { type: 'speechStopped' }
  /** The provider will drop the session soon (Gemini goAway); it has reconnected or will fail over. */
  | { type: 'goAway'; timeLeftMs: number }
  /**
   * The provider showed it took the caller's turn (OpenAI committed it or created a response; Gemini
   * answered the activity): it is alive and generating, so the call waits the longer reply deadline.
   * `empty`: the turn needs no answer (too little audio, nothing heard), which is not a failure.
   */
  | { type: 'ack'; empty?: boolean }
  /**
   * Something went wrong; `fatal` means the session is unusable and the call must fail over.
   * `origin: 'request'` means the provider refused one of our requests (our protocol misuse, such as a
   * second response.create while one is active): logged, never a failover, never a breaker failure.
   */
  | { type: 'error'; error: GatewayError; fatal: boolean; origin?: 'request' }
  /**
   * The provider sent an event or field this adapter does not know (a newer API version): logged and
   * counted (voice_gateway_provider_unknown_events_total), never a failure.
   */
  | { type: 'unknownEvent'; name: string }
  /**
   * The provider asks to end the call (its model called the end-call tool after saying goodbye). The
   * call hangs up through call control once what the caller has been sent has played.
   */
  | { type: 'hangup'; reason: string }
  /** The session ended on the provider's side. */
  | { type: 'closed'; reason: string };

export interface ProviderSession {
  readonly provider: string;
  /** What pushAudio takes: pcm16 frames at this rate, or encoded frames of this codec. */
  readonly inputFormat: AudioFormat;
  /** What audio events carry. */
  readonly outputFormat: AudioFormat;
  pushAudio(frame: AudioFrame | EncodedFrame): void;
  /** The caller's turn ended (our VAD): answer it. */
  endTurn(turn: TurnInfo): void;
  /** The caller spoke over the reply: stop it. `heardMs` is how much of it the caller heard. */
  interrupt(info: { responseId: string; heardMs: number }): void;
  /** A text message in the caller's turn (DTMF, a system note); providers without text input ignore it. */
  sendText?(text: string): void;
  /**
   * Add conversation turns after connect (a warm standby taking over a call). A session without it
   * can only be given history at connect, so it is never used as a standby once history exists.
   */
  appendHistory?(turns: readonly ConversationTurn[]): void;
  readonly events: AsyncIterable<ProviderEvent>;
  /**
   * The call gave up waiting for this session's answer (it showed no sign of life in time). The guard
   * counts it as one breaker failure; adapters need not implement it.
   */
  responseTimedOut?(): void;
  close(): Promise<void>;
}

export interface ProviderConnectOptions {
  readonly callId: string;
  /** The format the call will push, chosen from the provider's inputFormats. */
  readonly inputFormat: AudioFormat;
  /** The caller's wire format: a provider that can speak it (G.711) answers in it, saving a transcode. */
  readonly callerFormat: AudioFormat;
  /** System instructions for the assistant. */
  readonly instructions?: string;
  readonly history: readonly ConversationTurn[];
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export interface Provider {
  readonly name: string;
  /** Input formats accepted, most preferred first. */
  readonly inputFormats: readonly AudioFormat[];
  connect(options: ProviderConnectOptions): Promise<ProviderSession>;
  /**
   * Import what connect() needs (an SDK) before the gateway takes calls. Imported at a first connect
   * instead, it would run on the event loop in the middle of every live call's audio.
   */
  preload?(): Promise<void>;
}
