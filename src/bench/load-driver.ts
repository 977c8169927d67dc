/**
 * Many simulated callers in one process, open loop: each call goes through the webhook (for its
 * stream token), opens the media WebSocket and sends a 20 ms frame every 20 ms from a random offset
 * into the caller audio, whatever comes back, so a slow reply never slows the load. One 1 ms timer
 * tick serves every call; each frame is a template string around a precomputed base64 payload whose
 * first 60 characters carry the frame's tag (frame-tag.ts). Replies are played out on a simulated
 * clock per call (marks are echoed when the audio before them has "played", `clear` empties it), which
 * is what defines a late frame: one that arrives after the caller's playout buffer ran dry mid-reply.
 *
 * Timeline: calls start over `rampMs`; after `settleMs` more the measurement window opens for
 * `windowMs`; then callers go quiet (tagged silence) until no reply audio has arrived for a while,
 * and hang up. Latency samples come from the window; frames are accounted over the whole run.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { callWebhook } from '../simulator/webhook.js';
import type { CarrierName } from '../carriers/carrier-name.js';
import { CARRIERS } from '../carriers/descriptors.js';
import type { NetworkMessages } from '../carriers/network-messages.js';
import { FRAME_MS, type CallerAudio } from './caller-audio.js';
import { TagWriter, readTag } from './frame-tag.js';
import type { FrameLedger } from './ledger.js';
import { MsHistogram, prng, type Summary } from './stats.js';
import { EgressClock } from './egress-clock.js';

export interface LoadOptions {
  /** http(s) base URL of the bridge under test (webhooks at /twilio/voice, /telnyx/texml). */
  readonly baseUrl: string;
  readonly transport: CarrierName;
  readonly calls: number;
  readonly audio: CallerAudio;
  readonly rampMs: number;
  readonly settleMs: number;
  readonly windowMs: number;
  readonly ledger: FrameLedger;
  /** Reply frames carry tags (G.711 passed through end to end): match them; else count by arrival. */
  readonly tagged: boolean;
  /** Frames the bridge sends ahead of real time at the start of a reply (excluded from pacing jitter). */
  readonly egressLeadMs: number;
  /** A reply frame arriving this long after the caller's playout ran dry is late. */
  readonly lateBoundMs: number;
  /** After the window: wait for this long with no reply audio before hanging up... */
  readonly quietMs: number;
  /** ...but no longer than this. */
  readonly drainMaxMs: number;
  readonly seed: number;
  readonly twilioAuthToken?: string;
  /** How many calls have their provider session up: the window waits for all (at most `setupMaxMs`). */
  readonly sessionsUp?: () => number;
  readonly setupMaxMs?: number;
  /** Called (and awaited) as the window opens and closes: resource snapshots of the bridge. */
  readonly onWindow?: (edge: 'start' | 'end') => Promise<void>;
  readonly log?: (line: string) => void;
}

export interface LoadResult {
  callsStarted: number;
  callsConnected: number;
  callsFailed: number;
  /** Calls whose media socket closed before the caller hung up. */
  callsDropped: number;
  failures: string[];
  framesScheduled: number;
  framesSent: number[];
  /** Scheduled while the call's socket was not open: never sent, so never delivered. */
  framesUnsent: number;
  framesReceived: number;
  egressLate: number;
  egressLateOutsideWindow: number;
  egressJitter: Summary;
  replyLatency: Summary;
  clears: number;
  marksEchoed: number;
  windowMs: number;
  drainMs: number;
  /** The load generator's own health: if it lags, every figure it took is suspect. */
  harness: { sendLag: Summary; eventLoopDelayP99Ms: number; cpuSeconds: number; wallSeconds: number };
}

type Phase = 'pending' | 'connecting' | 'streaming' | 'closed';

interface Caller {
  readonly index: number;
  readonly carrierCallId: string;
  readonly offset: number;
  phase: Phase;
  ws: WebSocket | undefined;
  msgs: NetworkMessages | undefined;
  nextDue: number;
  scheduled: number;
  sent: number;
  lastSpeechEndAt: number;
  hungUp: boolean;
  readonly clock: EgressClock;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const random = prng(opts.seed);
  const { audio, ledger } = opts;
  const totalFrames = audio.frames.length;
  const tags = new TagWriter();
  const sendLag = new MsHistogram();
  const jitter = new MsHistogram();
  const reply = new MsHistogram();
  const LOOP_RESOLUTION_MS = 5; // the monitor records whole intervals: subtracted below to give lateness
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Set once every call is set up (below); until then nothing is in the window.
  let windowStart = Infinity;
  let windowEnd = Infinity;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;
  const result: LoadResult = {
    callsStarted: 0, callsConnected: 0, callsFailed: 0, callsDropped: 0, failures: [], framesScheduled: 0, framesSent: [],
    framesUnsent: 0, framesReceived: 0, egressLate: 0, egressLateOutsideWindow: 0, egressJitter: jitter.summary(),
    replyLatency: reply.summary(), clears: 0, marksEchoed: 0, windowMs: opts.windowMs, drainMs: 0,
    harness: { sendLag: sendLag.summary(), eventLoopDelayP99Ms: 0, cpuSeconds: 0, wallSeconds: 0 },
  };
  const burstFrames = Math.floor(opts.egressLeadMs / FRAME_MS) + 1;
  let speaking = true;
  let lastEgressAt = t0;

  const callers: Caller[] = Array.from({ length: opts.calls }, (_, index) => ({
    index,
    carrierCallId: CARRIERS[opts.transport].network.callId(randomBytes(16).toString('hex')),
    offset: Math.floor(random() * totalFrames),
    phase: 'pending',
    ws: undefined,
    msgs: undefined,
    nextDue: 0,
    scheduled: 0,
    sent: 0,
    lastSpeechEndAt: 0,
    hungUp: false,
    clock: new EgressClock({
      tagged: opts.tagged,
      ledger,
      burstFrames,
      lateBoundMs: opts.lateBoundMs,
      onFrame: (at, f) => {
        result.framesReceived++;
        lastEgressAt = at;
        if (f.late) {
          if (inWindow(at)) result.egressLate++;
          else result.egressLateOutsideWindow++;
        }
        if (f.intervalMs !== undefined && inWindow(at)) jitter.record(Math.abs(f.intervalMs - FRAME_MS));
      },
      onReplyStart: (at, c) => {
        const caller = callers[c];
        if (caller.lastSpeechEndAt > 0 && inWindow(caller.lastSpeechEndAt)) reply.record(at - caller.lastSpeechEndAt);
        caller.lastSpeechEndAt = 0; // a reply with no new utterance before it is not timed
      },
      call: index,
    }),
  }));

  const fail = (c: Caller, why: string) => {
    result.callsFailed++;
    if (result.failures.length < 10) result.failures.push(`call ${String(c.index)}: ${why}`);
    c.phase = 'closed';
  };

  const sendFrame = (c: Caller, now: number, due: number) => {
    c.scheduled++;
    const ws = c.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || c.sent >= ledger.maxFrames) return;
    const seq = c.sent++;
    const pos = (c.offset + seq) % totalFrames;
    const payload = speaking ? tags.payload(audio.frames[pos], audio.base64Tails[pos], c.index, seq) : tags.payload(audio.silence, audio.silenceTail, c.index, seq);
    ws.send(c.msgs!.media(payload, seq * FRAME_MS, seq));
    ledger.sent(c.index, seq, now);
    sendLag.record(now - due);
    if (speaking && audio.speechEnds[pos] === 1) c.lastSpeechEndAt = now;
  };

  let ticking = true;
  const tick = () => {
    if (!ticking) return;
    const now = performance.now();
    for (let i = 0; i < callers.length; i++) {
      const c = callers[i];
      if (c.phase !== 'streaming') continue;
      while (c.nextDue <= now) {
        sendFrame(c, now, c.nextDue);
        c.nextDue += FRAME_MS;
      }
    }
    setTimeout(tick, 1);
  };

  const connect = async (c: Caller) => {
    c.phase = 'connecting';
    result.callsStarted++;
    try {
      const target = await callWebhook({
        transport: opts.transport,
        baseUrl: opts.baseUrl,
        carrierCallId: c.carrierCallId,
        from: '+15550100',
        to: '+15550199',
        twilioAuthToken: opts.twilioAuthToken,
      });
      const headers = CARRIERS[opts.transport].network.signHandshake(opts, target.url);
      const ws = new WebSocket(target.url, { headers, perMessageDeflate: false });
      c.ws = ws;
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`media WebSocket refused: HTTP ${String(res.statusCode)}`)));
      });
      ws.on('error', () => undefined); // a close follows; counted there
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) onMessage(c, data.toString('latin1'));
      });
      ws.on('close', () => {
        if (!c.hungUp && c.phase === 'streaming') {
          result.callsDropped++;
          if (result.failures.length < 10) result.failures.push(`call ${String(c.index)}: media socket closed by the bridge`);
        }
        c.clock.close();
      });
      const streamId = randomBytes(16).toString('hex');
      c.msgs = CARRIERS[opts.transport].network.messages(streamId);
      ws.send(c.msgs.connected());
      ws.send(c.msgs.start({ carrierCallId: c.carrierCallId, streamId: '', codec: 'mulaw', customParameters: target.parameters }));
      result.callsConnected++;
      c.nextDue = performance.now();
      c.phase = 'streaming';
    } catch (err) {
      fail(c, (err as Error).message);
    }
  };

  const onMessage = (c: Caller, text: string) => {
    const now = performance.now();
    if (text.startsWith('{"event":"media"')) {
      const i = text.indexOf('"payload":"');
      if (i < 0) return;
      const start = i + 11;
      const bytes = Buffer.from(text.slice(start, text.indexOf('"', start)), 'base64');
      c.clock.media(bytes, now, opts.tagged ? readTag : undefined);
      return;
    }
    let msg: { event?: string; mark?: { name?: string }; media?: { payload?: string } };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (msg.event === 'media' && typeof msg.media?.payload === 'string') {
      c.clock.media(Buffer.from(msg.media.payload, 'base64'), now, opts.tagged ? readTag : undefined);
    } else if (msg.event === 'mark' && typeof msg.mark?.name === 'string') {
      const name = msg.mark.name;
      c.clock.mark(now, () => {
        if (c.ws?.readyState === WebSocket.OPEN) c.ws.send(c.msgs!.mark(name));
        result.marksEchoed++;
      });
    } else if (msg.event === 'clear') {
      result.clears++;
      c.clock.clear(now);
    }
  };

  // Start: calls spread over the ramp with a random phase within the 20 ms frame period.
  setTimeout(tick, 1);
  const connecting: Promise<void>[] = [];
  for (const c of callers) {
    const at = t0 + (opts.rampMs * c.index) / opts.calls + random() * FRAME_MS;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    connecting.push(connect(c));
  }
  await Promise.all(connecting);
  opts.log?.(`${String(result.callsConnected)}/${String(opts.calls)} calls streaming${result.callsFailed ? `, ${String(result.callsFailed)} failed: ${result.failures[0]}` : ''}`);
  // Call set-up (provider connects, TLS) is not steady state: the window opens once it is all done.
  const setupDeadline = performance.now() + (opts.setupMaxMs ?? 30_000);
  while (opts.sessionsUp && opts.sessionsUp() < result.callsConnected && performance.now() < setupDeadline) await sleep(50);
  if (opts.sessionsUp && opts.sessionsUp() < result.callsConnected) {
    opts.log?.(`only ${String(opts.sessionsUp())}/${String(result.callsConnected)} provider sessions up after ${String(opts.setupMaxMs ?? 30_000)} ms`);
  }
  windowStart = Math.max(t0 + opts.rampMs + opts.settleMs, performance.now() + opts.settleMs);
  windowEnd = windowStart + opts.windowMs;
  ledger.setWindow(windowStart, windowEnd);

  await sleep(windowStart - performance.now());
  await opts.onWindow?.('start');
  await sleep(windowEnd - performance.now());
  await opts.onWindow?.('end');

  // Drain: quiet callers, until replies stop (every non-interrupted reply must arrive whole).
  speaking = false;
  const drainStart = performance.now();
  while (performance.now() - drainStart < opts.drainMaxMs) {
    await sleep(100);
    const now = performance.now();
    if (now - lastEgressAt >= opts.quietMs && callers.every((c) => c.clock.idle(now))) break;
  }
  result.drainMs = Math.round(performance.now() - drainStart);

  // Hang up: stop, close, and wait for the bridge to close its side.
  ticking = false;
  await Promise.all(
    callers.map(async (c) => {
      c.hungUp = true;
      c.clock.close();
      const ws = c.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.send(c.msgs!.stop(c.carrierCallId));
      ws.close(1000, 'caller hung up');
      await Promise.race([closed, sleep(5000)]);
    }),
  );
  for (const c of callers) {
    result.framesSent.push(c.sent);
    result.framesScheduled += c.scheduled;
    result.framesUnsent += c.scheduled - c.sent;
  }
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  result.egressJitter = jitter.summary();
  result.replyLatency = reply.summary();
  result.harness = {
    sendLag: sendLag.summary(),
    eventLoopDelayP99Ms: Number(Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS).toFixed(3)),
    cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
    wallSeconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
  };
  return result;
}
