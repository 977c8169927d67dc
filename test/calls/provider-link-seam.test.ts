/**
 * ProviderLink, one provider's end of a call (src/calls/provider-link.ts), at its seam: wire frames
 * in, what the provider session receives out, without sockets or real time. The link owns an ingress
 * graph built for the provider's input format and a sink that holds audio until a session is attached.
 */
import { describe, expect, it, vi } from 'vitest';
import { ProviderLink, type ProviderLinkOptions } from '../../src/calls/provider-link.js';
import { encodeMulaw } from '../../src/pipeline/codecs/g711.js';
import type { AudioFormat, AudioFrame, EncodedFrame, WireFormat } from '../../src/pipeline/frame.js';
import type { WireFrame } from '../../src/pipeline/stages.js';
import type { Provider, ProviderSession, TurnInfo } from '../../src/providers/types.js';

const MULAW_8K: WireFormat = { codec: 'mulaw', sampleRate: 8000 };
const PASSTHROUGH: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
const PCM_16K: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };

/** 20 ms of a 440 Hz tone at 8 kHz, mu-law: not silence, so a resampler has something to carry. */
function tone(seq: number): Uint8Array {
  const pcm = new Int16Array(160);
  for (let i = 0; i < 160; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (seq * 160 + i)) / 8000));
  return encodeMulaw(pcm);
}

const frame = (seq: number, over: Partial<WireFrame> = {}): WireFrame => ({ payload: tone(seq), seq, timestampMs: seq * 20, receivedAtMs: 1000 + seq, ...over });

type Received = { kind: 'audio'; frame: AudioFrame | EncodedFrame } | { kind: 'turn'; turn: TurnInfo };

function recordingSession(inputFormat: AudioFormat) {
  const received: Received[] = [];
  const session = {
    provider: 'rec',
    inputFormat,
    outputFormat: inputFormat,
    pushAudio: (f: AudioFrame | EncodedFrame) => received.push({ kind: 'audio', frame: f }),
    endTurn: (turn: TurnInfo) => received.push({ kind: 'turn', turn }),
    interrupt: () => undefined,
    events: (async function* () {})(),
    close: vi.fn(async () => undefined),
  } satisfies ProviderSession;
  const order = () => received.map((r) => (r.kind === 'audio' ? `a${String(r.frame.seq)}` : `t${String(r.turn.endMs)}`));
  return { session, received, order };
}

function link(inputFormat: AudioFormat, over: Partial<ProviderLinkOptions> = {}) {
  const seen = { pcm: [] as number[], delivered: [] as number[], drops: [] as [string, number][], errors: [] as Error[] };
  const provider: Provider = { name: 'rec', inputFormats: [inputFormat], connect: async () => { throw new Error('not used'); } };
  const l = new ProviderLink({
    provider,
    inputFormat,
    wire: MULAW_8K,
    // The VAD runs at the wire rate here, so media time / 20 ms is the frame's seq.
    vad: { sampleRate: 8000, push: (_samples, timestampMs) => seen.pcm.push(timestampMs / 20) },
    onDelivered: (at) => seen.delivered.push(at),
    onDrop: (stage, n) => seen.drops.push([stage, n]),
    onError: (err) => seen.errors.push(err),
    maxHeldFrames: 50,
    ...over,
  });
  return { l, seen };
}

describe('ProviderLink', () => {
  it('holds frames and turn ends until a session is attached, then delivers them in order, then live', () => {
    const { l, seen } = link(PASSTHROUGH);
    l.write(frame(1));
    l.write(frame(2));
    l.endTurn({ startMs: 0, endMs: 40 });
    l.write(frame(3));
    expect(l.heldFrames).toBe(3);
    expect(l.session).toBeUndefined();
    const s = recordingSession(PASSTHROUGH);
    l.attach(s.session);
    expect(s.order()).toEqual(['a1', 'a2', 't40', 'a3']);
    l.write(frame(4));
    l.endTurn({ startMs: 60, endMs: 80 });
    expect(s.order()).toEqual(['a1', 'a2', 't40', 'a3', 'a4', 't80']);
    expect(l.heldFrames).toBe(0);
    expect(l.framesDelivered).toBe(4);
    expect(l.session).toBe(s.session);
    // Every live frame went to the VAD tap and reported its arrival time, in order.
    expect(seen.pcm).toEqual([1, 2, 3, 4]);
    expect(seen.delivered).toEqual([1001, 1002, 1003, 1004]);
  });

  it('passes G.711 through untouched when the provider takes the carrier codec and rate', () => {
    const { l } = link(PASSTHROUGH);
    const s = recordingSession(PASSTHROUGH);
    l.attach(s.session);
    const f = frame(7);
    l.write(f);
    const got = s.received[0] as { frame: EncodedFrame };
    expect(got.frame).toMatchObject({ codec: 'mulaw', sampleRate: 8000, seq: 7, timestampMs: 140, sampleCount: 160 });
    expect(got.frame.payload).toEqual(f.payload);
    expect(l.fixedDelayMs).toBe(0);
  });

  it("decodes and resamples for a PCM provider at another rate, keeping each frame's seq and media time", () => {
    const { l, seen } = link(PCM_16K);
    const s = recordingSession(PCM_16K);
    l.attach(s.session);
    for (let seq = 0; seq < 10; seq++) l.write(frame(seq));
    const frames = s.received.map((r) => (r as { frame: AudioFrame }).frame);
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) {
      expect(f.sampleRate).toBe(16000);
      expect(f.timestampMs).toBe(f.seq * 20);
    }
    // Twice the samples of what went in, less what the filter still holds (its stated delay).
    const total = frames.reduce((n, f) => n + f.samples.length, 0);
    expect(total).toBeLessThanOrEqual(10 * 320);
    expect(total).toBeGreaterThanOrEqual(10 * 320 - Math.ceil((l.fixedDelayMs * 16000) / 1000) - 320);
    expect(l.fixedDelayMs).toBeGreaterThan(0);
    // The VAD tap sees the carrier-rate PCM of every frame.
    expect(seen.pcm).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('delivers a replay without showing it to the VAD again or counting its latency', () => {
    const { l, seen } = link(PASSTHROUGH);
    const s = recordingSession(PASSTHROUGH);
    l.write(frame(1, { replay: true }));
    l.write(frame(2));
    l.attach(s.session);
    expect(s.order()).toEqual(['a1', 'a2']);
    expect(seen.pcm).toEqual([2]);
    expect(seen.delivered).toEqual([1002]);
  });

  it('drops the oldest held audio past its bound, as provider_hold', () => {
    const { l, seen } = link(PASSTHROUGH, { maxHeldFrames: 3 });
    for (let seq = 1; seq <= 5; seq++) l.write(frame(seq));
    expect(l.heldFrames).toBe(3);
    expect(seen.drops).toEqual([['provider_hold', 1], ['provider_hold', 1]]);
    const s = recordingSession(PASSTHROUGH);
    l.attach(s.session);
    expect(s.order()).toEqual(['a3', 'a4', 'a5']);
  });

  it('retired, it takes nothing more and closes its session only when told to', async () => {
    const { l } = link(PASSTHROUGH);
    const kept = recordingSession(PASSTHROUGH);
    l.attach(kept.session);
    await l.retire({ closeSession: false });
    expect(l.retired).toBe(true);
    l.write(frame(1));
    l.endTurn({ startMs: 0, endMs: 20 });
    expect(kept.received).toEqual([]);
    expect(kept.session.close).not.toHaveBeenCalled();

    const other = link(PASSTHROUGH).l;
    const closed = recordingSession(PASSTHROUGH);
    other.attach(closed.session);
    await other.retire({ closeSession: true });
    await other.retire({ closeSession: true });
    expect(closed.session.close).toHaveBeenCalledTimes(1);
  });

  it('finish delivers what was written, then closes the session once', async () => {
    const { l } = link(PASSTHROUGH);
    const s = recordingSession(PASSTHROUGH);
    l.attach(s.session);
    l.write(frame(1));
    await l.finish();
    await l.finish();
    l.write(frame(2));
    expect(s.order()).toEqual(['a1']);
    expect(s.session.close).toHaveBeenCalledTimes(1);
  });

  it('a frame its graph cannot decode fails the link once, on the next tick, and later frames are ignored', async () => {
    const { l, seen } = link(PCM_16K, { wire: { codec: 'l16', sampleRate: 8000 } });
    const s = recordingSession(PCM_16K);
    l.attach(s.session);
    expect(() => l.write(frame(1, { payload: new Uint8Array(3) }))).not.toThrow();
    expect(seen.errors).toEqual([]);
    await new Promise((r) => process.nextTick(r));
    expect(seen.errors).toHaveLength(1);
    l.write(frame(2, { payload: new Uint8Array(320) }));
    await new Promise((r) => process.nextTick(r));
    expect(seen.errors).toHaveLength(1);
    expect(s.received).toEqual([]);
  });
});
