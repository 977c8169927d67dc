/**
 * One caller, read top-down as the media flows:
 *   transport in -> handleMedia -> FailoverSession.write (replay ring -> ingress graph -> provider);
 *   the graph's VadStage -> VadTap -> TurnTaking (turn ends, barge-in);
 *   FailoverSession.events -> #relay -> TurnTaking -> Egress -> transport out.
 * The call sees one provider session: which provider answers, and switching it, is failover-session.ts.
 */
import type { Logger } from '../observability/logger.js';
import type { TallySlot } from '../observability/tally.js';
import { pcmCodec, pcmFormatOf } from '../pipeline/codecs/wire-codec.js';
import type { AudioFormat, AudioFrame } from '../pipeline/frame.js';
import type { WireFrame } from '../pipeline/stages.js';
import { fallingTone } from '../pipeline/tones.js';
import type { ConversationTurn } from '../providers/types.js';
import type { CallOptions, CallSnapshot, CallState, CallTransport, TranscriptEntry } from './call-types.js';
import { DtmfRecord } from './dtmf-digit.js';
import { createCallEgress } from './call-egress.js';
import type { Egress } from './egress.js';
import type { SwitchReason, SwitchRecord } from './failover.js';
import { FailoverSession } from './failover-session.js';
import { IngressLatency } from './ingress-latency.js';
import { TurnTaking } from './turn-taking.js';
import { VadTap } from './vad-tap.js';

export * from './call-types.js';

export { SHORT_EGRESS_LEAD_MS } from './call-egress.js';
/** After the all-down apology tone starts, the call waits this long before it hangs up. */
const APOLOGY_MS = 1000;

export class Call {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly startedAt = new Date();
  readonly #opts: CallOptions;
  readonly #log: Logger;
  readonly #transport: CallTransport;
  readonly #vad: VadTap;
  readonly #ingressLatency: IngressLatency;
  readonly #session: FailoverSession;
  readonly #egress: Egress;
  readonly #turns: TurnTaking;
  readonly #dtmf: DtmfRecord;
  readonly #transcripts: TranscriptEntry[] = [];
  /** framesInTotal / framesOutTotal for this call's transport, bumped per frame (see observability/tally.ts). */
  readonly #framesInSlot: TallySlot;
  #state: CallState = 'connecting';
  #endedAt: Date | undefined;
  #endReason: string | undefined;
  #seq = 0;
  #samplesIn = 0;
  /** L16/PCM16 on the wire (two bytes a sample), not G.711: looked up once, not per frame. */
  readonly #twoBytesPerSample: boolean;
  #framesIn = 0;
  #framesDropped = 0;
  #ended: Promise<void> | undefined;

  constructor(opts: CallOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.carrierCallId = opts.carrierCallId;
    this.correlationId = opts.correlationId;
    this.#transport = opts.transport;
    this.#log = opts.logger;
    const { metrics } = opts;
    this.#dtmf = new DtmfRecord({ metrics, logger: opts.logger });
    this.#framesInSlot = metrics.framesInTally.slot({ transport: opts.transport.name });
    const wire = opts.transport.format;
    this.#twoBytesPerSample = pcmCodec(wire.codec).bytesPerSample === 2;
    this.#vad = new VadTap({ callId: this.id, wireRate: wire.sampleRate, vad: opts.vad, metrics, logger: this.#log, onEvent: (e) => this.#turns.onTurnEvent(e) });
    this.#ingressLatency = new IngressLatency(metrics);
    this.#session = new FailoverSession({
      callId: this.id,
      first: opts.provider,
      providers: opts.providers ?? [opts.provider],
      settings: opts.failover,
      wire,
      instructions: opts.instructions,
      vad: this.#vad,
      ingress: this.#ingressLatency,
      metrics,
      logger: this.#log,
      ringChunks: opts.ringChunks,
      audioChunkMs: opts.media.audioChunkMsFor,
    });
    this.#egress = createCallEgress({
      transport: opts.transport,
      media: opts.media,
      clock: opts.egressClock,
      chunks: opts.ringChunks,
      metrics,
      onDrop: (n) => (this.#framesDropped += n),
      onPlayed: () => this.#session.replyHeard(),
    });
    this.#turns = new TurnTaking({ playout: this.#egress, carrier: this.#transport, peer: this.#session, metrics, logger: this.#log });
  }

  get state(): CallState {
    return this.#state;
  }

  get inputFormat(): AudioFormat {
    return this.#session.inputFormat;
  }

  get provider(): string {
    return this.#session.provider;
  }

  get switching(): boolean {
    return this.#session.switching;
  }

  /** The conversation so far as given to a new provider (for tests and the API). */
  get history(): readonly ConversationTurn[] {
    return this.#session.history;
  }

  /** Caller media time now: how much caller audio has arrived, in ms. */
  get mediaTimeMs(): number {
    return (this.#samplesIn * 1000) / this.#transport.format.sampleRate;
  }

  /** Connect the provider and start relaying its events. Frames that arrive meanwhile are held. */
  async start(): Promise<void> {
    void this.#relay();
    if ((await this.#session.start()) && !this.#isOver()) this.#state = 'active';
  }

  /**
   * One media payload from the transport; `receivedAtMs` is performance.now() at its message event.
   * `base64`, when the transport has it, is the payload exactly as the carrier sent it: a provider
   * taking the carrier's codec forwards it without encoding the bytes again.
   */
  handleMedia(payload: Uint8Array, receivedAtMs = performance.now(), base64?: string): void {
    // Every call's egress tick, if its timer is late because the loop is reading (egress-clock.ts).
    this.#opts.egressClock?.runIfDue(receivedAtMs);
    if (this.#isOver()) return;
    const timestampMs = this.mediaTimeMs;
    this.#samplesIn += this.#twoBytesPerSample ? payload.length >> 1 : payload.length;
    this.#framesIn++;
    this.#framesInSlot.count++;
    const frame: WireFrame = { payload, base64, seq: this.#seq++, timestampMs, receivedAtMs };
    this.#session.write(frame);
  }

  handleMark(name: string): void {
    this.#egress.onMark(name);
  }

  handleDtmf(digit: string): void {
    // Only one keypad key per event, at a human pace, into a bounded record; the gate counts and logs.
    if (!this.#dtmf.fromCaller(digit, Math.round(this.mediaTimeMs))) return;
    if (this.#opts.dtmfToProvider !== false) this.#session.sendText(`The caller pressed ${digit} on the keypad.`);
  }

  /** Note digits we sent toward the caller (the route does the sending). */
  recordDtmfOut(digits: string): void {
    this.#dtmf.toCaller(digits, Math.round(this.mediaTimeMs));
  }

  /** Play audio to the caller outside any provider reply (tones, prompts), paced like a reply. */
  playAudio(frame: AudioFrame, label: string): void {
    const id = `${label}:${String(this.#seq)}`;
    this.#egress.pushAudio(frame, id);
    this.#egress.endResponse(id);
  }

  /**
   * Move the call to another provider without losing a frame (see failover-session.ts). Never throws;
   * resolves with the switch record.
   */
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord> {
    return this.#session.switchProvider(reason, target);
  }

  #isOver(): boolean {
    return this.#state === 'ending' || this.#state === 'ended';
  }

  /** The provider side's one stream of events, for the call's whole life. */
  async #relay(): Promise<void> {
    for await (const ev of this.#session.events) {
      if (this.#isOver()) continue;
      switch (ev.type) {
        case 'transcript':
          if (ev.final && ev.text.trim() !== '') this.#transcripts.push({ role: ev.role, text: ev.text, atMs: Math.round(this.mediaTimeMs), provider: ev.provider });
          break;
        case 'hangup':
          void this.#turns.goodbye(ev.reason).then((played) => played && !this.#isOver() && this.#hangUp('provider_goodbye'));
          break;
        case 'allDown':
          void this.#allProvidersDown();
          break;
        case 'ingressFailed':
          // Every later frame would be dropped: end the call with a reason, never leave a silent line.
          this.#opts.metrics.callGraphFailuresTotal.inc();
          this.#log.error({ event: 'ingress_failed', err: ev.error }, 'ingress graph failed; hanging up rather than leaving a silent line');
          this.#hangUp('ingress_failed');
          break;
        default:
          this.#turns.onProviderEvent(ev, this.mediaTimeMs);
      }
    }
  }

  /** End the call through call control (the carrier leg hangs up, the record says why), or by itself. */
  #hangUp(reason: string): void {
    if (this.#opts.onProviderHangup) this.#opts.onProviderHangup(this.id, reason);
    else void this.end(reason);
  }

  /** Every provider is down: a short falling tone (the caller hears that something ended), then hang up. */
  async #allProvidersDown(): Promise<void> {
    const rate = this.#transport.format.sampleRate;
    this.playAudio({ samples: fallingTone(rate), sampleRate: rate, seq: 0, timestampMs: 0 }, 'apology');
    await new Promise((r) => setTimeout(r, APOLOGY_MS).unref());
    await this.end('all_providers_down');
  }

  /** End the call: flush what the graph holds to the provider, close everything, once. */
  end(reason: string): Promise<void> {
    this.#ended ??= this.#end(reason);
    return this.#ended;
  }

  async #end(reason: string): Promise<void> {
    this.#state = 'ending';
    this.#endReason = reason;
    this.#turns.close();
    this.#vad.close();
    this.#egress.close();
    await this.#session.close();
    this.#transport.close(1000, reason);
    this.#state = 'ended';
    this.#endedAt = new Date();
    this.#log.info(
      { event: 'call_ended', reason, carrierCallId: this.carrierCallId, framesIn: this.#framesIn, framesOut: this.#egress.framesSent, framesDropped: this.#framesDropped + this.#session.framesDropped, turns: this.#turns.turns, switches: this.#session.records.length },
      'call ended',
    );
    this.#opts.onEnded?.(this);
  }

  snapshot(): CallSnapshot {
    const wire = pcmFormatOf(this.#transport.format);
    return {
      callId: this.id,
      carrierCallId: this.carrierCallId,
      correlationId: this.correlationId,
      direction: this.#opts.direction ?? 'inbound',
      from: this.#opts.from,
      to: this.#opts.to,
      metadata: this.#opts.metadata,
      transport: this.#transport.name,
      codec: this.#transport.format.codec,
      sampleRate: wire.sampleRate,
      provider: this.#session.provider,
      state: this.#state,
      startedAt: this.startedAt.toISOString(),
      endedAt: this.#endedAt?.toISOString(),
      endReason: this.#endReason,
      framesIn: this.#framesIn,
      framesOut: this.#egress.framesSent,
      framesDropped: this.#framesDropped + this.#session.framesDropped,
      turns: this.#turns.turns,
      bargeIns: [...this.#turns.bargeIns],
      dtmf: [...this.#dtmf.entries],
      vadEngine: this.#vad.engine,
      providersUsed: [...this.#session.providersUsed],
      transcripts: [...this.#transcripts],
      latency: { ...this.#ingressLatency.summary(), replyLatencyMs: [...this.#turns.replyLatencyMs] },
      switches: [...this.#session.records],
      switching: this.#session.switching,
    };
  }
}
