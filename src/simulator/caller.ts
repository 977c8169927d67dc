/**
 * A simulated caller: plays the telephony network's part against a gateway. It goes through the
 * webhook, opens the media stream, sends the audio as 20 ms frames in real time, plays out what comes
 * back on a simulated clock (so marks are echoed when the audio before them "has played", as the
 * carrier does), honours `clear`, and reports what it heard.
 *
 * `turnTaking: 'polite'` pauses the caller's audio (sending silence) while a reply plays, like a person
 * who lets the bot finish; `'overlap'` keeps talking regardless, which is how barge-in is exercised.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import type { WireCodec } from '../pipeline/frame.js';
import { DtmfDetector } from '../pipeline/dtmf.js';
import { callWebhook } from './webhook.js';
import type { CarrierName } from '../carriers/carrier-name.js';
import { CARRIERS } from '../carriers/descriptors.js';
import type { NetworkMessages } from '../carriers/network-messages.js';

export interface SimulatedCallOptions {
  readonly transport: CarrierName;
  readonly baseUrl: string;
  /** The caller's audio as the network carries it: 8 kHz G.711 bytes. */
  readonly audio: Uint8Array;
  readonly codec: Exclude<WireCodec, 'l16'>;
  readonly turnTaking?: 'polite' | 'overlap';
  readonly twilioAuthToken?: string;
  readonly telnyxSecretKey?: Uint8Array;
  /** After the audio ends, wait this long with no reply before hanging up. */
  readonly tailMs?: number;
  /** Upper bound on the whole call, so a silent gateway cannot hang the caller. */
  readonly maxDurationMs?: number;
  /** Send this many frames per 20 ms (1 = real time). */
  readonly speed?: number;
  readonly signal?: AbortSignal;
  /** Media WebSocket URL override (skip the webhook), with the stream parameters to send. */
  readonly stream?: { url: string; parameters: Record<string, string>; egressCodec?: Exclude<WireCodec, 'pcm16'> };
  /**
   * What the carrier was told to expect back, when it differs from what the caller sends (a
   * separate egress codec); else what the webhook's answer says, else the caller's own codec.
   */
  readonly egressCodec?: WireCodec;
  /** Deliver the voice webhook this many more times (retried delivery). */
  readonly webhookRetries?: number;
  /**
   * Network misbehaviour Telnyx documents ("Media frame order is not guaranteed":
   * https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket):
   * every `swapEvery`-th frame arrives after the one that follows it; every `duplicateEvery`-th
   * frame arrives twice.
   */
  readonly network?: { swapEvery?: number; duplicateEvery?: number };
  /** The carrier's id for the call (an outbound call's, as its REST API gave it); else a new one. */
  readonly carrierCallId?: string;
  readonly from?: string;
  readonly to?: string;
  /** Key presses to send as the network's `dtmf` events, at these caller media times. */
  readonly dtmf?: readonly { atMs: number; digit: string }[];
}

export interface HeardReply {
  /** Caller media time (ms since the first frame sent) when the first and last frames arrived. */
  startMs: number;
  endMs: number;
  /** 20 ms frames of audio (a message may hold several). */
  frames: number;
  /** From the end of the caller's last speech before the reply to its first frame. */
  latencyMs: number | undefined;
  /** The reply's audio, decoded to PCM16 at 8 kHz. */
  pcm: Int16Array;
  cleared: boolean;
}

export interface SimulatedCallResult {
  carrierCallId: string;
  framesSent: number;
  framesReceived: number;
  replies: HeardReply[];
  clears: number[];
  marksEchoed: number;
  closeCode: number | undefined;
  closeReason: string;
  /** Every received frame's arrival, caller media time. */
  arrivalsMs: number[];
  /** Caller media time at each clear. */
  clearAtMs: number[];
  /** Media time of each sent frame that was the caller's audio (not pause silence): index = audio frame. */
  audioFrameSentAtMs: number[];
  /** DTMF tones heard in the audio that came back (in-band digits), caller media time. */
  dtmfHeard: { digit: string; atMs: number }[];
  /** `dtmf` events sent, at the media time of the frame they went before. */
  dtmfSent: { digit: string; atMs: number }[];
}

const FRAME_MS = 20;
/** Samples in a 20 ms frame at 8 kHz, the rate the simulated caller hears. */
const SAMPLES_PER_FRAME = 160;
/** A polite caller starts speaking again this long after a reply's playout ends. */
const REPLY_GAP_MS = 300;
/**
 * A reply ends once the caller has heard this much silence after its last audio (arrived audio plays
 * out in order, as a carrier's jitter buffer does). Heard silence, not the gap between arrivals: the
 * gateway sends ahead of playout, so a short stall of a loaded process is inaudible and is one reply.
 */
const REPLY_SPLIT_SILENCE_MS = 300;
const SPEECH_RMS = 300; // about -40 dBFS: above a quiet line's noise, below speech

function rms(pcm: Int16Array): number {
  let s = 0;
  for (let i = 0; i < pcm.length; i++) s += pcm[i] * pcm[i];
  return Math.sqrt(s / pcm.length);
}

export async function simulateCall(opts: SimulatedCallOptions): Promise<SimulatedCallResult> {
  const carrier = CARRIERS[opts.transport];
  const carrierCallId = opts.carrierCallId ?? carrier.network.callId(randomUUID().replace(/-/g, ''));
  const target =
    opts.stream ??
    (await callWebhook({
      transport: opts.transport,
      baseUrl: opts.baseUrl,
      carrierCallId,
      from: opts.from ?? '+15550100',
      to: opts.to ?? '+15550199',
      twilioAuthToken: opts.twilioAuthToken,
      telnyxSecretKey: opts.telnyxSecretKey,
      retries: opts.webhookRetries,
    }));
  const headers = carrier.network.signHandshake(opts, target.url);
  const ws = new WebSocket(target.url, { headers });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`media WebSocket refused: HTTP ${String(res.statusCode)}`)));
  });
  const streamId = randomUUID();
  const msgs: NetworkMessages = carrier.network.messages(streamId);
  const egress: WireCodec = opts.egressCodec ?? target.egressCodec ?? opts.codec;
  return runStream(ws, msgs, carrierCallId, target.parameters, { ...opts, egressCodec: egress });
}

async function runStream(
  ws: WebSocket,
  msgs: NetworkMessages,
  carrierCallId: string,
  parameters: Record<string, string>,
  opts: SimulatedCallOptions,
): Promise<SimulatedCallResult> {
  const codec = pcmCodec(opts.codec);
  // Replies come in the codec the carrier was told to expect, which may not be the caller's.
  const replyCodec = pcmCodec(opts.egressCodec ?? opts.codec);
  const silence = Buffer.alloc(SAMPLES_PER_FRAME, codec.silenceByte).toString('base64');
  const polite = (opts.turnTaking ?? 'polite') === 'polite';
  const tailMs = opts.tailMs ?? 4000;
  const speed = opts.speed ?? 1;
  const totalAudioFrames = Math.floor(opts.audio.length / SAMPLES_PER_FRAME);

  const result: SimulatedCallResult = {
    carrierCallId,
    framesSent: 0,
    framesReceived: 0,
    replies: [],
    clears: [],
    marksEchoed: 0,
    closeCode: undefined,
    closeReason: '',
    arrivalsMs: [],
    clearAtMs: [],
    audioFrameSentAtMs: [],
    dtmfHeard: [],
    dtmfSent: [],
  };
  const detector = new DtmfDetector(8000);
  const dtmfToSend = [...(opts.dtmf ?? [])].sort((a, b) => a.atMs - b.atMs);
  const t0 = performance.now();
  const mediaNow = () => (performance.now() - t0) * speed;

  // Playout simulation: each received frame plays for 20 ms after the previous one finishes.
  let playoutEndMs = -Infinity; // nothing received yet: no reply is playing
  const pendingMarks: { name: string; timer: NodeJS.Timeout }[] = [];
  let current: { startMs: number; lastMs: number; chunks: Uint8Array[]; frames: number; latencyMs: number | undefined } | undefined;
  let lastSpeechSentMs: number | undefined;
  let lastReplyActivityMs = 0;

  const closeReply = (cleared: boolean) => {
    if (!current) return;
    const bytes = Buffer.concat(current.chunks);
    result.replies.push({
      startMs: current.startMs,
      endMs: current.lastMs,
      frames: current.frames,
      latencyMs: current.latencyMs,
      pcm: bytes.length > 0 ? replyCodec.decode(new Uint8Array(bytes)) : new Int16Array(0),
      cleared,
    });
    current = undefined;
  };

  ws.on('message', (data) => {
    let msg: { event?: string; media?: { payload?: string }; mark?: { name?: string } };
    try {
      msg = JSON.parse(data.toString()) as typeof msg;
    } catch {
      return;
    }
    const now = mediaNow();
    if (msg.event === 'media' && msg.media?.payload) {
      const payload = Buffer.from(msg.media.payload, 'base64');
      for (const d of detector.push(replyCodec.decode(payload))) result.dtmfHeard.push({ digit: d.digit, atMs: now });
      // A carrier media message may hold several 20 ms frames (the gateway joins queued ones): count audio, not messages.
      const frames = Math.max(1, Math.round(payload.length / replyCodec.bytesPerSample / SAMPLES_PER_FRAME));
      result.framesReceived += frames;
      for (let i = 0; i < frames; i++) result.arrivalsMs.push(now);
      if (current && now - playoutEndMs > REPLY_SPLIT_SILENCE_MS) closeReply(false);
      if (!current) {
        current = { startMs: now, lastMs: now, chunks: [], frames: 0, latencyMs: lastSpeechSentMs === undefined ? undefined : now - lastSpeechSentMs };
      }
      current.lastMs = now;
      current.chunks.push(payload);
      current.frames += frames;
      playoutEndMs = Math.max(playoutEndMs, now) + (payload.length / replyCodec.bytesPerSample / 8000) * 1000;
      lastReplyActivityMs = now;
    } else if (msg.event === 'mark' && msg.mark?.name) {
      const name = msg.mark.name;
      const delay = Math.max(0, playoutEndMs - now) / speed;
      const timer = setTimeout(() => {
        const i = pendingMarks.findIndex((m) => m.timer === timer);
        if (i >= 0) pendingMarks.splice(i, 1);
        if (ws.readyState === ws.OPEN) ws.send(msgs.mark(name));
        result.marksEchoed++;
      }, delay);
      pendingMarks.push({ name, timer });
    } else if (msg.event === 'clear') {
      result.clears.push(now);
      result.clearAtMs.push(now);
      playoutEndMs = now;
      closeReply(true);
      // The carrier returns pending marks after a clear.
      for (const m of pendingMarks.splice(0)) {
        clearTimeout(m.timer);
        if (ws.readyState === ws.OPEN) ws.send(msgs.mark(m.name));
        result.marksEchoed++;
      }
    }
  });

  const closed = new Promise<void>((resolve) => {
    ws.once('close', (code, reason) => {
      result.closeCode = code;
      result.closeReason = reason.toString();
      resolve();
    });
  });

  ws.send(msgs.connected());
  ws.send(msgs.start({ carrierCallId, streamId: '', codec: opts.codec, customParameters: parameters, from: opts.from, to: opts.to }));

  let audioIndex = 0;
  let frameNo = 0;
  /** A frame held back to arrive after its successor (network.swapEvery). */
  let held: string | undefined;
  const maxMs = opts.maxDurationMs ?? 10 * 60_000;
  let stopped = false;
  const onAbort = () => {
    stopped = true;
  };
  opts.signal?.addEventListener('abort', onAbort);

  while (!stopped && ws.readyState === ws.OPEN) {
    const now = mediaNow();
    if (now > maxMs) break;
    // A key press sits at a place in the stream, as a carrier's does: before the first frame at or
    // after its media time. The wall clock can run ahead of the frames (a loaded machine, the frames
    // then catching up), and the gateway times a digit by the media it has had.
    const position = frameNo * FRAME_MS;
    while (dtmfToSend.length > 0 && dtmfToSend[0].atMs <= position) {
      const { digit } = dtmfToSend.shift()!;
      ws.send(msgs.dtmf(digit));
      result.dtmfSent.push({ digit, atMs: position });
    }
    const replyPlaying = playoutEndMs + REPLY_GAP_MS > now;
    let payload: string;
    if (audioIndex < totalAudioFrames && !(polite && replyPlaying)) {
      const bytes = opts.audio.subarray(audioIndex * SAMPLES_PER_FRAME, (audioIndex + 1) * SAMPLES_PER_FRAME);
      payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
      if (rms(codec.decode(bytes)) > SPEECH_RMS) lastSpeechSentMs = now + FRAME_MS;
      result.audioFrameSentAtMs.push(now);
      audioIndex++;
    } else {
      if (audioIndex >= totalAudioFrames && dtmfToSend.length === 0 && !replyPlaying && now - Math.max(lastReplyActivityMs, (lastSpeechSentMs ?? 0)) > tailMs) break;
      payload = silence;
    }
    // Chunks count from 1, as the carriers' media messages do; timestamps from 0.
    const frame = msgs.media(payload, frameNo * FRAME_MS, frameNo + 1);
    const { swapEvery, duplicateEvery } = opts.network ?? {};
    if (held !== undefined) {
      ws.send(frame);
      ws.send(held);
      held = undefined;
    } else if (swapEvery && frameNo % swapEvery === swapEvery - 1) held = frame;
    else ws.send(frame);
    if (duplicateEvery && frameNo % duplicateEvery === duplicateEvery - 1) ws.send(frame);
    frameNo++;
    result.framesSent++;
    const nextAt = t0 + (frameNo * FRAME_MS) / speed;
    const wait = nextAt - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  opts.signal?.removeEventListener('abort', onAbort);
  // A frame held back for a swap was counted as sent: it goes out before the stop, late as a swap is.
  if (held !== undefined && ws.readyState === ws.OPEN) ws.send(held);
  closeReply(false);
  for (const m of pendingMarks.splice(0)) clearTimeout(m.timer);
  if (ws.readyState === ws.OPEN) {
    ws.send(msgs.stop(carrierCallId));
    ws.close(1000, 'caller hung up');
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  return result;
}

/** The JSON summary the CLI prints. */
export function summarise(result: SimulatedCallResult) {
  return {
    carrierCallId: result.carrierCallId,
    framesSent: result.framesSent,
    framesReceived: result.framesReceived,
    turnsHeard: result.replies.length,
    replies: result.replies.map((r) => ({
      startMs: Math.round(r.startMs),
      endMs: Math.round(r.endMs),
      frames: r.frames,
      latencyMs: r.latencyMs === undefined ? null : Math.round(r.latencyMs),
      cleared: r.cleared,
    })),
    replyLatencyMs: result.replies.map((r) => (r.latencyMs === undefined ? null : Math.round(r.latencyMs))),
    clearsReceived: result.clears.length,
    marksEchoed: result.marksEchoed,
    dtmfSent: result.dtmfSent.map((d) => d.digit).join(''),
    dtmfHeard: result.dtmfHeard.map((d) => d.digit).join(''),
    closeCode: result.closeCode ?? null,
  };
}
