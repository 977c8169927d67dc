/**
 * One provider's end of a call: the ingress graph built for that provider's input format, the sink
 * that holds frames until its session is attached, and the session. A failover builds a new link,
 * replays unaccepted audio into it, and retires the old one, so two providers never share a graph or
 * a resampler state.
 */
import type { AudioFormat, WireFormat } from '../pipeline/frame.js';
import { IngressGraph } from '../pipeline/ingress-graph.js';
import type { VadInput, WireFrame } from '../pipeline/stages.js';
import type { Provider, ProviderSession, TurnInfo } from '../providers/types.js';
import type { RingEntry } from './frame-ring.js';
import { ProviderSink } from './provider-sink.js';

export interface ProviderLinkOptions {
  readonly provider: Provider;
  readonly inputFormat: AudioFormat;
  readonly wire: WireFormat;
  /** The call's VAD: the graph feeds it live frames at its rate (pipeline/stages.ts VadStage). */
  readonly vad: VadInput;
  /** A live frame reached its session (or, while none is attached, the sink) `receivedAtMs` after arrival; replays are not reported. */
  readonly onDelivered: (receivedAtMs: number) => void;
  readonly onDrop: (stage: string, n: number) => void;
  readonly onError: (err: Error) => void;
  readonly maxHeldFrames: number;
  /** Caller audio per message to the provider, ms (PROVIDER_AUDIO_CHUNK_MS; 20 or less: each frame as it comes). */
  readonly chunkMs?: number;
}

export class ProviderLink {
  readonly provider: Provider;
  readonly inputFormat: AudioFormat;
  readonly #graph: IngressGraph;
  readonly #sink: ProviderSink;
  #session: ProviderSession | undefined;
  #retired = false;

  constructor(opts: ProviderLinkOptions) {
    this.provider = opts.provider;
    this.inputFormat = opts.inputFormat;
    this.#sink = new ProviderSink({
      maxHeldFrames: opts.maxHeldFrames,
      onDrop: (n) => opts.onDrop('provider_hold', n),
      onDelivered: opts.onDelivered,
      chunkMs: opts.chunkMs,
    });
    this.#graph = new IngressGraph({
      wireFormat: opts.wire,
      sinkFormat: opts.inputFormat,
      vad: opts.vad,
      sink: (frame, receivedAtMs, replay) => this.#sink.write(frame, replay ? undefined : receivedAtMs),
      onError: opts.onError,
      onMarker: (turn) => this.#sink.endTurn(turn as TurnInfo),
    });
  }

  get session(): ProviderSession | undefined {
    return this.#session;
  }

  get retired(): boolean {
    return this.#retired;
  }

  get fixedDelayMs(): number {
    return this.#graph.fixedDelayMs;
  }

  /** Frames waiting in the sink for a session (during connect or a switch). */
  get heldFrames(): number {
    return this.#sink.heldFrames;
  }

  get framesDelivered(): number {
    return this.#sink.framesDelivered;
  }

  write(frame: WireFrame): void {
    if (!this.#retired) this.#graph.write(frame);
  }

  /** The caller's turn ended after the frames written so far: it follows them through the graph. */
  endTurn(turn: TurnInfo): void {
    if (!this.#retired) this.#graph.writeMarker(turn);
  }

  /**
   * Write ring entries (unaccepted audio and its turn ends) as replays: VAD and latency saw them once
   * already. Returns what was written.
   */
  replay(entries: readonly RingEntry[]): { frames: number; turns: number; firstSeq: number | undefined; lastSeq: number | undefined } {
    let frames = 0;
    let turns = 0;
    let firstSeq: number | undefined;
    let lastSeq: number | undefined;
    for (const e of entries) {
      if (e.kind === 'frame') {
        this.write({ ...e.frame, replay: true });
        frames++;
        firstSeq ??= e.frame.seq;
        lastSeq = e.frame.seq;
      } else {
        this.endTurn(e.turn);
        turns++;
      }
    }
    return { frames, turns, firstSeq, lastSeq };
  }

  /** Attach the session: everything held so far (replay first, then live) drains into it in order. */
  attach(session: ProviderSession): void {
    this.#session = session;
    this.#sink.attach(session);
  }

  /** Stop taking frames; close the session unless it is being handed on. */
  async retire(options: { closeSession: boolean }): Promise<void> {
    if (this.#retired) return;
    this.#retired = true;
    this.#graph.destroy();
    // A session handed on (a switch rolled back to it) gets the chunk it was being given first, ahead
    // of the frames replayed to it; one being closed does not need it (the replay ring has them).
    if (!options.closeSession) this.#sink.flush();
    const session = this.#sink.detach() ?? this.#session;
    if (options.closeSession && session) await session.close();
  }

  /** End of call: let the graph deliver what it holds, then close the session. */
  async finish(): Promise<void> {
    if (this.#retired) return;
    await this.#graph.end();
    this.#retired = true;
    this.#sink.flush();
    const session = this.#sink.detach() ?? this.#session;
    if (session) await session.close();
  }
}
