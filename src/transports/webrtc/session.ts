/**
 * One browser call: a werift RTCPeerConnection (ICE, DTLS-SRTP as werift does them) with one audio
 * track each way, bridged to a Call exactly like a telephony media socket is.
 *
 *   RTP in -> JitterBuffer (order, loss) -> Opus decode / PLC -> 20 ms PCM16 48 kHz -> call.handleMedia
 *   egress 20 ms PCM16 48 kHz -> Opus encode -> RtpClock -> RTP out;   marks -> PlayoutClock -> handleMark
 *
 * Signalling: the browser sends an offer, with its candidates gathered or (trickle ICE) before they
 * are, then trickles them through addCandidates() while ICE already checks the ones it has; we answer
 * once our own are gathered (host candidates at once; STUN/TURN ones take a round trip to the server).
 * The session owns its timers (one watchdog, one timer per pending mark) and closes everything it
 * opened, once, whichever side ends first.
 */
import type * as Werift from 'werift';
import type { MediaStreamTrack, RTCIceServer, RTCPeerConnection, RTCRtpTransceiver, RtpPacket } from 'werift';
import type { Call, CallTransport } from '../../calls/call.js';
import type { CallManager } from '../../calls/call-manager.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { pcm16FromBytes, pcm16ToBytes, type WireFormat } from '../../pipeline/frame.js';
import { JitterBuffer, type JitterItem, type JitterStats } from './jitter-buffer.js';
import { describeToc, OPUS_FRAME_SAMPLES, OPUS_RATE, OpusDecoder, OpusEncoder, opusPacketSamples } from './opus.js';
import { PlayoutClock, RtpClock } from './outbound.js';
import { withOpusFmtp } from './sdp.js';
import { lazyImport } from '../../util/lazy-import.js';

export const WEBRTC_WIRE_FORMAT: WireFormat = { codec: 'pcm16', sampleRate: OPUS_RATE };
const FRAME_MS = (OPUS_FRAME_SAMPLES * 1000) / OPUS_RATE;
/** Longest we wait for werift to close a peer connection before moving on. */
const CLOSE_WAIT_MS = 1000;

export interface SessionTimeouts {
  /** Our ICE gathering, before the answer is sent. Host candidates take a few ms; STUN longer. */
  readonly gatherMs: number;
  /** From the answer to ICE + DTLS connected. */
  readonly connectMs: number;
  /** How long a 'disconnected' peer may take to come back. */
  readonly disconnectedMs: number;
  /** No RTP for this long on a connected session ends it (browsers send audio even in silence). */
  readonly mediaIdleMs: number;
  /** Network plus browser jitter buffer, added to playout before a mark counts as heard. */
  readonly receiverDelayMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = {
  gatherMs: 5000,
  connectMs: 20_000,
  disconnectedMs: 10_000,
  mediaIdleMs: 20_000,
  receiverDelayMs: 60,
};

export type SessionState = 'new' | 'answered' | 'connected' | 'closing' | 'closed';

export interface SessionStats {
  sessionId: string;
  callId: string | undefined;
  clientIp: string;
  state: SessionState;
  connectionState: string;
  createdAt: string;
  /** Candidates the offerer trickled after its offer. */
  remoteCandidates: number;
  rtpIn: number;
  rtpOut: number;
  framesToCall: number;
  undecodable: number;
  marksHeard: number;
  jitter: JitterStats;
  /** What the browser's last packet was (its TOC byte), e.g. 'SILK WB 20 ms'. */
  opusIn: string | undefined;
}

export interface WebRtcSessionOptions {
  readonly id: string;
  readonly clientIp: string;
  readonly correlationId: string;
  readonly calls: CallManager;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly iceServers?: RTCIceServer[];
  readonly timeouts?: Partial<SessionTimeouts>;
  readonly onClosed: (session: WebRtcSession) => void;
}

/** One trickled candidate, as the browser's RTCIceCandidate.toJSON() gives it. */
export interface RemoteCandidate {
  readonly candidate: string;
  readonly sdpMid?: string;
  readonly sdpMLineIndex?: number;
}

/** A browser gathers a handful per interface and server; far more is not a browser. */
export const MAX_REMOTE_CANDIDATES = 64;

export interface SessionAnswer {
  readonly sdp: string;
  readonly callId: string;
  readonly provider: string;
}

/**
 * Our Opus receive preferences, written into the answer (werift would echo the offer's fmtp).
 * `maxplaybackrate=16000` tells the browser nothing above 8 kHz is needed (VAD and providers run at
 * 16/24 kHz), so it encodes SILK wideband, which costs us ~30% less to decode than the hybrid mode
 * it picks otherwise; `sprop-maxcapturerate=16000` says our own audio is wideband too. No
 * `useinbandfec=1`: our decoder cannot use FEC (see opus.ts), so the browser need not send it.
 */
export const OPUS_FMTP = 'minptime=10;maxplaybackrate=16000;sprop-maxcapturerate=16000';

/**
 * werift: loaded when the gateway starts (gateway.ts; browser calls are always served), so that no
 * first browser call imports it in the middle of other calls' audio.
 */
export const werift = lazyImport(() => import('werift'));

/** Opus is always "2 channels" in SDP (RFC 7587); we send mono and downmix what we get. */
function opusCodec(w: typeof Werift): Werift.RTCRtpCodecParameters {
  return new w.RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: OPUS_RATE, channels: 2 });
}

export class WebRtcSession {
  readonly id: string;
  readonly clientIp: string;
  readonly createdAt = new Date();
  readonly #opts: WebRtcSessionOptions;
  readonly #timeouts: SessionTimeouts;
  readonly #log: Logger;
  readonly #jitter = new JitterBuffer({ samplesOf: opusPacketSamples });
  readonly #decoder = new OpusDecoder();
  readonly #encoder = new OpusEncoder();
  readonly #rtpClock = new RtpClock({ clockRate: OPUS_RATE, frameSamples: OPUS_FRAME_SAMPLES });
  readonly #playout: PlayoutClock;
  readonly #markTimers = new Set<NodeJS.Timeout>();
  /** Aborted on close, so a negotiation in progress stops waiting at once. */
  readonly #abort = new AbortController();
  /** werift itself, once answer() has loaded it. */
  #w: typeof Werift | undefined;
  #pc: RTCPeerConnection | undefined;
  #transceiver: RTCRtpTransceiver | undefined;
  #call: Call | undefined;
  #state: SessionState = 'new';
  #payloadType = -1;
  #watchdog: NodeJS.Timeout | undefined;
  #answeredAtMs = 0;
  #disconnectedAtMs: number | undefined;
  #lastRtpAtMs = 0;
  /** Decoded samples short of a whole 20 ms frame (only when packets are not 20 ms). */
  #pending: Int16Array | undefined;
  #rtpIn = 0;
  #rtpOut = 0;
  #framesToCall = 0;
  #undecodable = 0;
  #marksHeard = 0;
  #lastToc = -1;
  #reported = { lost: 0, late: 0, duplicates: 0, undecodable: 0 };
  #closing: Promise<void> | undefined;
  #remoteCandidates = 0;
  #candidatesDone = false;

  constructor(opts: WebRtcSessionOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.clientIp = opts.clientIp;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#playout = new PlayoutClock({ frameMs: FRAME_MS, receiverDelayMs: this.#timeouts.receiverDelayMs });
    this.#log = opts.logger.child({ sessionId: opts.id, correlationId: opts.correlationId, transport: 'webrtc' });
  }

  get state(): SessionState {
    return this.#state;
  }

  get call(): Call | undefined {
    return this.#call;
  }

  /**
   * Answer a checked offer: apply it, gather our candidates, then start the call. Throws
   * GW_ERR_TRANSPORT_BAD_SDP when werift cannot use the offer, GW_ERR_TRANSPORT_NEGOTIATION_FAILED
   * when gathering fails; the caller closes the session either way.
   */
  async answer(offerSdp: string): Promise<SessionAnswer> {
    let w: typeof Werift;
    try {
      w = await this.#unlessClosed(werift());
    } catch (err) {
      if (isGatewayError(err)) throw err;
      throw new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', `werift did not load: ${(err as Error).message}`, { cause: err });
    }
    this.#w = w;
    const pc = new w.RTCPeerConnection({ codecs: { audio: [opusCodec(w)] }, iceServers: this.#opts.iceServers ?? [] });
    this.#pc = pc;
    pc.onTrack.subscribe((track: MediaStreamTrack) => {
      track.onReceiveRtp.subscribe((rtp) => this.#onRtp(rtp));
    });
    try {
      await this.#unlessClosed(pc.setRemoteDescription({ type: 'offer', sdp: offerSdp }));
    } catch (err) {
      if (isGatewayError(err)) throw err;
      throw new GatewayError('GW_ERR_TRANSPORT_BAD_SDP', `the offer could not be applied: ${(err as Error).message}`, { cause: err });
    }
    const transceiver = pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!transceiver) throw new GatewayError('GW_ERR_TRANSPORT_BAD_SDP', 'the offer has no audio section');
    transceiver.setDirection('sendrecv');
    this.#transceiver = transceiver;
    try {
      // With STUN/TURN servers werift resolves this only once gathering is done.
      await this.#unlessClosed(pc.setLocalDescription(await pc.createAnswer()));
    } catch (err) {
      if (isGatewayError(err)) throw err;
      throw new GatewayError('GW_ERR_TRANSPORT_BAD_SDP', `no answer fits the offer: ${(err as Error).message}`, { cause: err });
    }
    const opus = transceiver.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
    if (opus?.payloadType === undefined) throw new GatewayError('GW_ERR_TRANSPORT_BAD_SDP', 'Opus was not negotiated');
    this.#payloadType = opus.payloadType;
    await this.#gathered(pc);
    const gatheredSdp = pc.localDescription?.sdp;
    if (!gatheredSdp) throw new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', 'no local description after gathering');
    if (this.#state !== 'new') throw new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', 'session closed while negotiating');
    const sdp = withOpusFmtp(gatheredSdp, this.#payloadType, OPUS_FMTP);

    pc.connectionStateChange.subscribe((state) => this.#onConnectionState(state));
    this.#state = 'answered';
    this.#answeredAtMs = performance.now();
    this.#watchdog = setInterval(() => this.#check(), 1000);
    const call = this.#opts.calls.create({
      carrierCallId: `webrtc-${this.id}`,
      correlationId: this.#opts.correlationId,
      transport: this.#transport(),
    });
    this.#call = call;
    return { sdp, callId: call.id, provider: call.snapshot().provider };
  }

  /**
   * Trickled candidates from the offerer, applied in order; `done` marks the end of them. Throws
   * GW_ERR_HTTP_BAD_REQUEST past MAX_REMOTE_CANDIDATES or for one werift cannot parse.
   */
  async addCandidates(candidates: readonly RemoteCandidate[], done: boolean): Promise<void> {
    const pc = this.#pc;
    if (!pc || this.#state === 'closing' || this.#state === 'closed') return;
    if (this.#remoteCandidates + candidates.length > MAX_REMOTE_CANDIDATES) {
      throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `a session takes at most ${String(MAX_REMOTE_CANDIDATES)} candidates`);
    }
    // An mDNS host candidate (<uuid>.local, RFC 8839 section 5.1 and draft-ietf-mmusic-mdns-ice-candidates)
    // names an address only the browser's own network can resolve: from here werift's multicast lookup
    // waits out its 10 s timeout, and every candidate trickled after it waits too. Left out; the
    // browser's other candidates (and peer-reflexive ones learned from its checks) connect the call.
    const usable = candidates.filter((c) => !isMdnsCandidate(c.candidate));
    if (usable.length < candidates.length) {
      this.#log.debug({ event: 'webrtc_mdns_candidates_skipped', skipped: candidates.length - usable.length }, 'mDNS candidates left out');
    }
    this.#remoteCandidates += usable.length;
    for (const c of usable) {
      try {
        await pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
      } catch (err) {
        throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `candidate not accepted: ${(err as Error).message}`, { cause: err });
      }
    }
    if (done && !this.#candidatesDone) {
      this.#candidatesDone = true;
      await pc.addIceCandidate(undefined);
    }
    this.#log.debug({ event: 'webrtc_candidates', added: candidates.length, total: this.#remoteCandidates, done }, 'trickled candidates');
  }

  /** End the call and release the peer connection and timers, once. */
  close(reason: string): Promise<void> {
    this.#closing ??= this.#close(reason);
    return this.#closing;
  }

  stats(): SessionStats {
    return {
      sessionId: this.id,
      callId: this.#call?.id,
      clientIp: this.clientIp,
      state: this.#state,
      connectionState: this.#pc?.connectionState ?? 'new',
      createdAt: this.createdAt.toISOString(),
      remoteCandidates: this.#remoteCandidates,
      rtpIn: this.#rtpIn,
      rtpOut: this.#rtpOut,
      framesToCall: this.#framesToCall,
      undecodable: this.#undecodable,
      marksHeard: this.#marksHeard,
      jitter: this.#jitter.stats(),
      opusIn: this.#lastToc < 0 ? undefined : describeToc(this.#lastToc),
    };
  }

  async #close(reason: string): Promise<void> {
    const wasOpen = this.#state !== 'new';
    this.#state = 'closing';
    this.#abort.abort();
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
    this.#clearMarks();
    this.#report();
    // Ending the call closes its transport, which lands back here and gets this same promise.
    if (this.#call) await this.#call.end(reason);
    if (this.#pc) await this.#closePeer(this.#pc);
    this.#pc = undefined;
    this.#transceiver = undefined;
    this.#state = 'closed';
    if (wasOpen) this.#log.info({ event: 'webrtc_closed', reason, ...this.#summary() }, 'WebRTC session closed');
    this.#opts.onClosed(this);
  }

  /**
   * werift's close waits for STUN/TURN gathering still in flight (~5 s against an unreachable server);
   * a shutdown should not. Past the bound it finishes in the background and releases its sockets.
   */
  async #closePeer(pc: RTCPeerConnection): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const closed = pc.close().catch((err: unknown) => this.#log.warn({ event: 'webrtc_close_failed', err }, 'peer connection close failed'));
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  #summary(): Record<string, number> {
    const j = this.#jitter.stats();
    return { rtpIn: this.#rtpIn, rtpOut: this.#rtpOut, lost: j.lost, late: j.late, reordered: j.reordered, undecodable: this.#undecodable };
  }

  /** `step`, unless the session closes first: then GW_ERR_TRANSPORT_NEGOTIATION_FAILED at once. */
  async #unlessClosed<T>(step: Promise<T>): Promise<T> {
    const signal = this.#abort.signal;
    let onAbort: (() => void) | undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', 'session closed while negotiating'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([step, closed]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Our candidates are all known, or a GatewayError: too slow, or the session closed meanwhile. */
  async #gathered(pc: RTCPeerConnection): Promise<void> {
    if (pc.iceGatheringState === 'complete') return;
    let timer: NodeJS.Timeout | undefined;
    let sub: { unSubscribe: () => void } | undefined;
    let onAbort: (() => void) | undefined;
    const signal = this.#abort.signal;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (detail: string) => reject(new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', detail));
        timer = setTimeout(() => fail(`ICE gathering took over ${String(this.#timeouts.gatherMs)} ms`), this.#timeouts.gatherMs);
        onAbort = () => fail('session closed while gathering');
        signal.addEventListener('abort', onAbort, { once: true });
        sub = pc.iceGatheringStateChange.subscribe((state) => {
          if (state === 'complete') resolve();
        });
        if (pc.iceGatheringState === 'complete') resolve();
        if (signal.aborted) onAbort();
      });
    } finally {
      clearTimeout(timer);
      sub?.unSubscribe();
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  #transport(): CallTransport {
    return {
      name: 'webrtc',
      format: WEBRTC_WIRE_FORMAT,
      sendMedia: (payload) => this.#sendMedia(payload),
      sendMark: (name) => this.#sendMark(name),
      sendClear: () => {
        // The browser keeps what it already buffered (tens of ms); nothing more is queued here.
        this.#clearMarks();
        this.#playout.reset(performance.now());
      },
      close: (_code, reason) => {
        void this.close(reason ?? 'call_ended');
      },
    };
  }

  #onConnectionState(state: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#log.debug({ event: 'webrtc_connection_state', state }, 'connection state');
    switch (state) {
      case 'connected':
        this.#disconnectedAtMs = undefined;
        if (this.#state === 'answered') {
          this.#state = 'connected';
          this.#lastRtpAtMs = performance.now();
          this.#log.info({ event: 'webrtc_connected', setupMs: Math.round(this.#lastRtpAtMs - this.#answeredAtMs) }, 'WebRTC peer connected');
        }
        break;
      case 'disconnected':
        this.#disconnectedAtMs ??= performance.now();
        break;
      case 'failed':
      case 'closed':
        void this.close(`peer_${state}`);
        break;
    }
  }

  /** Once a second: deadlines, and loss counters into metrics (not per packet). */
  #check(): void {
    const now = performance.now();
    const t = this.#timeouts;
    if (this.#state === 'answered' && now - this.#answeredAtMs > t.connectMs) void this.close('ice_timeout');
    else if (this.#disconnectedAtMs !== undefined && now - this.#disconnectedAtMs > t.disconnectedMs) void this.close('peer_disconnected');
    else if (this.#state === 'connected' && now - this.#lastRtpAtMs > t.mediaIdleMs) void this.close('media_timeout');
    this.#report();
  }

  #report(): void {
    const j = this.#jitter.stats();
    const m = this.#opts.metrics;
    const r = this.#reported;
    if (j.lost > r.lost) m.webrtcPacketsConcealedTotal.inc(j.lost - r.lost);
    if (j.late > r.late) m.webrtcPacketsDiscardedTotal.inc({ reason: 'late' }, j.late - r.late);
    if (j.duplicates > r.duplicates) m.webrtcPacketsDiscardedTotal.inc({ reason: 'duplicate' }, j.duplicates - r.duplicates);
    if (this.#undecodable > r.undecodable) m.webrtcPacketsDiscardedTotal.inc({ reason: 'undecodable' }, this.#undecodable - r.undecodable);
    this.#reported = { lost: j.lost, late: j.late, duplicates: j.duplicates, undecodable: this.#undecodable };
  }

  #onRtp(rtp: RtpPacket): void {
    const call = this.#call;
    if (!call || this.#state === 'closing' || this.#state === 'closed') return;
    const receivedAtMs = performance.now();
    this.#lastRtpAtMs = receivedAtMs;
    this.#rtpIn++;
    const { header } = rtp;
    if (header.payloadType !== this.#payloadType || rtp.payload.length === 0) {
      this.#undecodable++;
      return;
    }
    this.#lastToc = rtp.payload[0];
    const items = this.#jitter.push({ seq: header.sequenceNumber, timestamp: header.timestamp, payload: rtp.payload });
    for (let i = 0; i < items.length; i++) this.#deliver(call, items[i], receivedAtMs);
  }

  #deliver(call: Call, item: JitterItem, receivedAtMs: number): void {
    let pcm: Int16Array;
    if (item.kind === 'lost') pcm = this.#decoder.conceal(item.samples);
    else {
      try {
        pcm = this.#decoder.decode(item.payload);
      } catch (err) {
        this.#undecodable++;
        if (this.#undecodable <= 3) this.#log.warn({ event: 'webrtc_undecodable', code: isGatewayError(err) ? err.code : undefined, err }, 'Opus packet could not be decoded');
        pcm = this.#decoder.conceal(opusPacketSamples(item.payload) || OPUS_FRAME_SAMPLES);
      }
    }
    if (this.#pending !== undefined) {
      const joined = new Int16Array(this.#pending.length + pcm.length);
      joined.set(this.#pending);
      joined.set(pcm, this.#pending.length);
      pcm = joined;
      this.#pending = undefined;
    }
    // The call's graph takes 20 ms frames; a browser sending 20 ms packets needs no copy here.
    const n = OPUS_FRAME_SAMPLES;
    let offset = 0;
    for (; offset + n <= pcm.length; offset += n) {
      this.#framesToCall++;
      call.handleMedia(pcm16ToBytes(pcm.subarray(offset, offset + n)), receivedAtMs);
    }
    if (offset < pcm.length) this.#pending = pcm.slice(offset);
  }

  #sendMedia(payload: Uint8Array): void {
    const sender = this.#transceiver?.sender;
    const w = this.#w;
    if (!sender || !w || this.#state === 'closing' || this.#state === 'closed') return;
    const now = performance.now();
    let packet: Uint8Array;
    try {
      packet = this.#encoder.encode(pcm16FromBytes(payload));
    } catch (err) {
      this.#log.error({ event: 'webrtc_encode_failed', err }, 'Opus encode failed');
      return;
    }
    const stamp = this.#rtpClock.next(now);
    this.#playout.frameSent(now);
    this.#rtpOut++;
    const header = new w.RtpHeader({ payloadType: this.#payloadType, sequenceNumber: stamp.sequenceNumber, timestamp: stamp.timestamp, marker: stamp.marker });
    sender.sendRtp(new w.RtpPacket(header, Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength))).catch((err: unknown) => {
      this.#log.debug({ event: 'webrtc_send_failed', err }, 'RTP send failed');
    });
  }

  #sendMark(name: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const timer = setTimeout(() => {
      this.#markTimers.delete(timer);
      this.#marksHeard++;
      this.#call?.handleMark(name);
    }, this.#playout.heardInMs(performance.now()));
    this.#markTimers.add(timer);
  }

  #clearMarks(): void {
    for (const t of this.#markTimers) clearTimeout(t);
    this.#markTimers.clear();
  }
}

/** The connection address (the fifth field of "candidate:<foundation> <component> <transport> <priority> <address> ...") is an mDNS name. */
function isMdnsCandidate(candidate: string): boolean {
  const address = candidate.split(' ', 5)[4];
  return address !== undefined && address.toLowerCase().endsWith('.local');
}
