/**
 * The listen side of a Deepgram session: caller audio out, transcripts in. It keeps the final
 * transcript pieces of the caller's current turn until our VAD ends the turn, then `finalize()` asks
 * Deepgram to flush (`Finalize`), waits a bounded time for that last result and hands the turn's text
 * over. While no audio flows it sends `KeepAlive`, since Deepgram closes a socket after 10 s of silence
 * on the wire (a failover hold or a paused ingress can do that).
 */
import type { ProviderEvent } from '../types.js';
import type { Inbound, ListenSocket, SocketLink } from './socket.js';

export interface ListenTuning {
  /** Send a KeepAlive once no audio has gone out for this long (and every this long after). */
  readonly keepAliveMs: number;
  /** Longest wait for the finalized result after `Finalize`. */
  readonly finalizeWaitMs: number;
  /** How long close() waits for Deepgram to close after `CloseStream`. */
  readonly closeWaitMs: number;
}

export interface ChannelSink {
  emit(event: ProviderEvent): void;
  /** The provider sent something we cannot use. Not fatal. */
  protocolError(detail: string): void;
  /** The provider reported a problem in-band. Not fatal. */
  remoteError(detail: string): void;
  /** Deepgram heard the turn end (speech_final after its endpointing, or UtteranceEnd) with words pending. */
  turnEnded?(): void;
}

interface ResultsShape {
  is_final?: unknown;
  speech_final?: unknown;
  from_finalize?: unknown;
  channel?: { alternatives?: { transcript?: unknown }[] };
}

export class ListenChannel {
  readonly #socket: ListenSocket;
  readonly #link: SocketLink;
  readonly #tuning: ListenTuning;
  readonly #sink: ChannelSink;
  /** Final pieces of the turn in progress. */
  #finals: string[] = [];
  /** The pending finals answer a Finalize we stopped waiting for: they join the next turn, not end one. */
  #finalsFromFinalize = false;
  #waiter: (() => void) | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  // Set per frame and read per tick: a flag costs nothing on the audio path, unlike re-arming a timer.
  #audioSinceTick = false;
  #idleTicks = 0;

  constructor(socket: ListenSocket, link: SocketLink, tuning: ListenTuning, sink: ChannelSink) {
    this.#socket = socket;
    this.#link = link;
    this.#tuning = tuning;
    this.#sink = sink;
  }

  start(onEnded: (code: number, reason: string) => void): void {
    this.#link.start({ message: (m) => this.#handle(m), ended: onEnded });
    // Ticks at half the period: a KeepAlive goes out between 1 and 1.5 periods after the last audio.
    this.#keepAlive = setInterval(() => this.#tick(), this.#tuning.keepAliveMs / 2);
    this.#keepAlive.unref();
  }

  send(bytes: Uint8Array): void {
    if (!this.#link.isOpen) return;
    this.#socket.sendMedia(bytes);
    this.#audioSinceTick = true;
  }

  /** Final words heard and not yet taken by a turn. */
  get pending(): boolean {
    return this.#finals.length > 0;
  }

  /**
   * End of the caller's turn: flush Deepgram and return the turn's final transcript (may be '').
   * `flush: false` when Deepgram itself ended the turn: its final is already here, nothing to wait for.
   */
  async finalize(signal: AbortSignal, opts: { flush: boolean } = { flush: true }): Promise<string> {
    if (opts.flush && this.#link.isOpen) {
      this.#socket.sendFinalize({ type: 'Finalize' });
      await this.#waitForFinal(signal);
    }
    const text = this.#finals.join(' ').trim();
    this.#finals = [];
    this.#finalsFromFinalize = false;
    return text;
  }

  /** Give a turn's text back (its answer was cancelled): it joins the next turn's. */
  restore(text: string): void {
    this.#finals.unshift(text);
  }

  async close(): Promise<void> {
    this.#stop();
    await this.#link.close(() => this.#socket.sendCloseStream({ type: 'CloseStream' }), this.#tuning.closeWaitMs);
  }

  /** The session failed: stop timers and waits, close without ceremony. */
  abandon(): Promise<void> {
    this.#stop();
    return this.#link.close(undefined, this.#tuning.closeWaitMs);
  }

  #stop(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    this.#waiter?.();
  }

  #tick(): void {
    if (this.#audioSinceTick) {
      this.#audioSinceTick = false;
      this.#idleTicks = 0;
      return;
    }
    if (++this.#idleTicks < 2 || !this.#link.isOpen) return;
    this.#idleTicks = 0;
    this.#socket.sendKeepAlive({ type: 'KeepAlive' });
  }

  #waitForFinal(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.#waiter === done) this.#waiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.#tuning.finalizeWaitMs);
      signal.addEventListener('abort', done, { once: true });
      this.#waiter = done;
    });
  }

  #handle(m: Inbound): void {
    if (m.kind === 'binary') {
      this.#sink.protocolError(`unexpected binary frame of ${String(m.bytes.length)} bytes on the listen socket`);
      return;
    }
    if (m.kind === 'text') {
      this.#sink.protocolError(`unparseable text frame (${String(m.raw.length)} chars)`);
      return;
    }
    const msg = m.value as { type?: unknown } | null;
    switch (typeof msg === 'object' && msg !== null ? msg.type : undefined) {
      case 'Results':
        this.#onResults(msg as ResultsShape);
        return;
      case 'SpeechStarted':
        this.#sink.emit({ type: 'speechStarted' });
        return;
      case 'UtteranceEnd':
        this.#sink.emit({ type: 'speechStopped' });
        if (this.#waiter) this.#waiter();
        else if (this.#finals.length > 0 && !this.#finalsFromFinalize) this.#sink.turnEnded?.();
        return;
      case 'Metadata':
        return;
      case 'Error': {
        const e = msg as { description?: unknown; err_msg?: unknown; message?: unknown };
        this.#sink.remoteError(String(e.description ?? e.err_msg ?? e.message ?? 'listen error'));
        return;
      }
      default:
        this.#sink.protocolError(`unknown listen message type ${describeType(msg)}`);
    }
  }

  #onResults(r: ResultsShape): void {
    const transcript = r.channel?.alternatives?.[0]?.transcript;
    if (typeof transcript !== 'string') {
      this.#sink.protocolError('Results without channel.alternatives[0].transcript');
      return;
    }
    const final = r.is_final === true;
    const text = transcript.trim();
    if (text !== '') {
      if (final) {
        this.#finals.push(text);
        if (r.from_finalize === true) this.#finalsFromFinalize = true;
      }
      this.#sink.emit({ type: 'transcript', role: 'user', text, final });
    }
    // The answer to our Finalize is marked; a server that does not mark it still ends the turn with speech_final.
    if (r.from_finalize === true || (final && r.speech_final === true)) {
      if (this.#waiter) this.#waiter();
      // No Finalize of ours waiting: Deepgram's endpointing ended the turn before our VAD did.
      else if (r.from_finalize !== true && this.#finals.length > 0) this.#sink.turnEnded?.();
    }
  }
}

export function describeType(msg: unknown): string {
  if (typeof msg !== 'object' || msg === null) return `(${typeof msg})`;
  const type = (msg as { type?: unknown }).type;
  return typeof type === 'string' ? `'${type.slice(0, 40)}'` : '(none)';
}
