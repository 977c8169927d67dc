/**
 * Each ingress stage on its own, through runStage: what it emits for plain inputs. The graph that
 * orders them is tested in ingress-graph.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { decodeAlaw, decodeMulaw, encodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { DecodeStage, ResampleStage, VadStage, type GraphMarker, type IngressItem, type WireFrame } from '../../src/pipeline/stages.js';
import { runStage } from '../support/run-stage.js';

const marker: GraphMarker = { marker: 'turn-end' };
const ramp = (n: number, scale = 100) => Int16Array.from({ length: n }, (_, i) => ((i * scale) % 30000) - 15000);
const wire = (payload: Uint8Array, seq: number, extra: Partial<WireFrame> = {}): WireFrame => ({ payload, seq, timestampMs: seq * 20, receivedAtMs: 5, ...extra });
const item = (samples: Int16Array, sampleRate: number, seq: number, replay = false): IngressItem => ({
  encoded: undefined,
  pcm: { samples, sampleRate, seq, timestampMs: seq * 20 },
  receivedAtMs: 0,
  replay,
});

describe('DecodeStage', () => {
  it('decodes mu-law to PCM and keeps the carrier bytes and base64 for a passthrough sink', () => {
    const payload = encodeMulaw(ramp(160));
    const [out] = runStage(new DecodeStage({ codec: 'mulaw', sampleRate: 8000 }), [wire(payload, 3, { base64: 'b64', replay: true })]) as IngressItem[];
    expect(out.pcm).toEqual({ samples: decodeMulaw(payload), sampleRate: 8000, seq: 3, timestampMs: 60 });
    expect(out.encoded).toEqual({ codec: 'mulaw', payload, base64: 'b64', sampleRate: 8000, seq: 3, timestampMs: 60, sampleCount: 160 });
    expect(out.receivedAtMs).toBe(5);
    expect(out.replay).toBe(true);
  });

  it('decodes A-law, and L16 (big-endian, as RTP carries it) with no encoded frame to pass through', () => {
    const alaw = Uint8Array.from({ length: 160 }, (_, i) => i);
    const [a] = runStage(new DecodeStage({ codec: 'alaw', sampleRate: 8000 }), [wire(alaw, 0)]) as IngressItem[];
    expect(a.pcm.samples).toEqual(decodeAlaw(alaw));
    const l16 = new Uint8Array([0x01, 0x02, 0xff, 0xfe]);
    const [l] = runStage(new DecodeStage({ codec: 'l16', sampleRate: 16000 }), [wire(l16, 0)]) as IngressItem[];
    expect([...l.pcm.samples]).toEqual([0x0102, -2]);
    expect(l.encoded).toBeUndefined();
  });

  it('passes a marker through untouched', () => {
    expect(runStage(new DecodeStage({ codec: 'mulaw', sampleRate: 8000 }), [marker])).toEqual([marker]);
  });
});

describe('ResampleStage', () => {
  it('brings PCM to the sink rate keeping seq and media time, and emits nothing until the filter has output', () => {
    const stage = new ResampleStage(8000, 16000);
    const out = runStage(stage, [item(ramp(160), 8000, 0), marker, item(ramp(160), 8000, 1)]);
    const frames = out.filter((o): o is IngressItem => 'pcm' in o);
    expect(out).toContain(marker);
    for (const f of frames) expect(f.pcm.sampleRate).toBe(16000);
    expect(frames.map((f) => f.pcm.seq)).toEqual(frames.map((f) => f.pcm.timestampMs / 20));
    // Two 20 ms frames in: at most 40 ms out, less what the filter still holds.
    const total = frames.reduce((n, f) => n + f.pcm.samples.length, 0);
    expect(total).toBeGreaterThan(500);
    expect(total).toBeLessThanOrEqual(640);
    expect(stage.delayMs).toBeGreaterThan(0);
  });
});

describe('VadStage', () => {
  it('show live frames only, pass every item on unchanged', () => {
    const pushed: number[] = [];
    const vad = new VadStage({ sampleRate: 8000, push: (_s, ts) => pushed.push(ts) }, 8000);
    const inputs = [item(ramp(160), 8000, 0, true), item(ramp(160), 8000, 1), marker, item(ramp(160), 8000, 2)];
    expect(runStage(vad, inputs)).toEqual(inputs);
    expect(pushed).toEqual([20, 40]);
  });

  it('resamples for a VAD at another rate and reports caller media time less the filter delay', () => {
    const got: { n: number; ts: number }[] = [];
    const vad = new VadStage({ sampleRate: 16000, push: (s, ts) => got.push({ n: s.length, ts }) }, 48000);
    runStage(vad, [1, 2, 3].map((seq) => item(ramp(960, 37), 48000, seq)));
    expect(got.length).toBeGreaterThan(0);
    for (const g of got) expect(g.ts).toBeLessThan(60);
    expect(got.reduce((n, g) => n + g.n, 0)).toBeLessThanOrEqual(960);
  });
});
