import { describe, expect, it } from 'vitest';
import { IngressGraph } from '../../src/pipeline/ingress-graph.js';
import type { AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';

describe('ingress graph', () => {
  function graph(sinkRate: number, codec: 'pcm16' | 'mulaw' = 'pcm16') {
    const seen: (string | number)[] = [];
    const vad: number[] = [];
    const g = new IngressGraph({
      wireFormat: { codec: 'mulaw', sampleRate: 8000 },
      sinkFormat: { codec, sampleRate: sinkRate },
      vad: { sampleRate: 8000, push: (_samples, timestampMs) => vad.push(timestampMs) },
      sink: (frame: AudioFrame | EncodedFrame) => seen.push(frame.seq),
      onMarker: (m) => seen.push(String(m)),
      onError: (err) => {
        throw err;
      },
    });
    return { g, seen, vad };
  }
  const payload = new Uint8Array(160).fill(0xff);

  it('delivers a turn marker after every frame written before it, even on a fresh (buffering) graph', async () => {
    const { g, seen } = graph(16000);
    for (let seq = 0; seq < 5; seq++) g.write({ payload, seq, timestampMs: seq * 20, receivedAtMs: 0, replay: true });
    g.writeMarker('turn-end');
    g.write({ payload, seq: 5, timestampMs: 100, receivedAtMs: 0 });
    await g.end();
    expect(seen).toEqual([0, 1, 2, 3, 4, 'turn-end', 5]);
  });

  it('hands the sink the original bytes when it takes the carrier codec, while VAD still sees PCM (live frames only)', async () => {
    const { g, seen, vad } = graph(8000, 'mulaw');
    const got: (AudioFrame | EncodedFrame)[] = [];
    const g2 = new IngressGraph({
      wireFormat: { codec: 'mulaw', sampleRate: 8000 },
      sinkFormat: { codec: 'mulaw', sampleRate: 8000 },
      vad: { sampleRate: 8000, push: () => undefined },
      sink: (f) => got.push(f),
      onError: () => undefined,
    });
    const base64 = Buffer.from(payload).toString('base64');
    g2.write({ payload, base64, seq: 7, timestampMs: 0, receivedAtMs: 0 });
    g2.write({ payload, seq: 8, timestampMs: 20, receivedAtMs: 0 });
    await g2.end();
    expect('payload' in got[0] && got[0].payload).toBe(payload);
    // The carrier's base64 text rides along for the provider to forward; a frame without one has none.
    expect('payload' in got[0] && got[0].base64).toBe(base64);
    expect('payload' in got[1] && got[1].base64).toBeUndefined();
    g.write({ payload, seq: 1, timestampMs: 0, receivedAtMs: 0, replay: true });
    g.write({ payload, seq: 2, timestampMs: 20, receivedAtMs: 0 });
    await g.end();
    expect(seen).toEqual([1, 2]);
    expect(vad).toEqual([20]); // a replayed frame is not shown to VAD twice (the live one is at 20 ms)
  });

  it('runs synchronously: a frame reaches the sink inside write(), with nothing queued between stages', () => {
    const { g, seen, vad } = graph(16000);
    g.write({ payload, seq: 0, timestampMs: 0, receivedAtMs: 0 });
    expect(vad).toEqual([0]);
    g.writeMarker('m');
    expect(seen).toEqual([0, 'm']);
  });

  it('a stage that throws fails the graph once, on the next tick (not inside write), and later writes are ignored', async () => {
    const errors: Error[] = [];
    const seen: number[] = [];
    let calls = 0;
    const g = new IngressGraph({
      wireFormat: { codec: 'mulaw', sampleRate: 8000 },
      sinkFormat: { codec: 'mulaw', sampleRate: 8000 },
      vad: { sampleRate: 8000, push: () => undefined },
      sink: (f) => {
        calls++;
        if (f.seq === 1) throw new Error('sink broke');
        seen.push(f.seq);
      },
      onError: (err) => errors.push(err),
    });
    g.write({ payload, seq: 0, timestampMs: 0, receivedAtMs: 0 });
    g.write({ payload, seq: 1, timestampMs: 20, receivedAtMs: 0 });
    expect(errors).toEqual([]); // not from inside the transport's handler
    g.write({ payload, seq: 2, timestampMs: 40, receivedAtMs: 0 });
    await new Promise((r) => process.nextTick(r));
    expect(errors.map((e) => e.message)).toEqual(['sink broke']);
    expect(seen).toEqual([0]);
    expect(calls).toBe(2);
  });
});

describe('the VAD stage', () => {
  function run(wire: { codec: 'mulaw' | 'pcm16'; sampleRate: number }, sink: { codec: 'pcm16' | 'mulaw'; sampleRate: number }, vadRate: number, frames = 5) {
    const pushed: { samples: Int16Array; timestampMs: number }[] = [];
    const delivered: (AudioFrame | EncodedFrame)[] = [];
    const g = new IngressGraph({
      wireFormat: wire,
      sinkFormat: sink,
      vad: { sampleRate: vadRate, push: (samples, timestampMs) => pushed.push({ samples: samples.slice(), timestampMs }) },
      sink: (f) => delivered.push(f),
      onError: (err) => {
        throw err;
      },
    });
    const perFrame = (wire.sampleRate / 1000) * 20;
    for (let seq = 0; seq < frames; seq++) {
      const payload =
        wire.codec === 'mulaw'
          ? new Uint8Array(perFrame).map((_, i) => (i * 7 + seq) & 0x7f)
          : new Uint8Array(Int16Array.from({ length: perFrame }, (_, i) => Math.round(8000 * Math.sin((seq * perFrame + i) / 9))).buffer);
      g.write({ payload, seq, timestampMs: seq * 20, receivedAtMs: 0, replay: seq === 0 });
    }
    return { pushed, delivered, g };
  }
  const total = (xs: { samples: Int16Array }[]) => xs.reduce((n, x) => n + x.samples.length, 0);

  it("shares the provider's resampling when it makes the VAD's rate: a 48 kHz call to a 16 kHz provider is resampled once", () => {
    const { pushed, delivered, g } = run({ codec: 'pcm16', sampleRate: 48000 }, { codec: 'pcm16', sampleRate: 16000 }, 16000);
    // The VAD got exactly the samples the provider got (frame 0 was a replay: the provider only).
    const toProvider = delivered.slice(1).map((f) => ('samples' in f ? f.samples : new Int16Array()));
    expect(pushed.map((p) => [...p.samples])).toEqual(toProvider.map((s) => [...s]));
    // In caller media time: the shared filter's delay is taken off.
    expect(pushed[0].timestampMs).toBeCloseTo(Math.max(0, 20 - g.fixedDelayMs), 6);
  });

  it('feeds telephony audio to the VAD at the carrier rate, before the provider resampling', () => {
    const { pushed, delivered } = run({ codec: 'mulaw', sampleRate: 8000 }, { codec: 'pcm16', sampleRate: 24000 }, 8000);
    expect(total(pushed)).toBe(4 * 160);
    expect(pushed.map((p) => p.timestampMs)).toEqual([20, 40, 60, 80]);
    expect(delivered.every((f) => f.sampleRate === 24000)).toBe(true);
  });

  it('resamples on its own when neither the carrier nor the provider rate is the VAD rate', () => {
    const { pushed } = run({ codec: 'pcm16', sampleRate: 48000 }, { codec: 'pcm16', sampleRate: 24000 }, 16000, 11);
    // 10 live frames of 960 samples at 48 kHz: about 3200 at 16 kHz, less what the filter still holds.
    expect(total(pushed)).toBeGreaterThan(3000);
    expect(total(pushed)).toBeLessThanOrEqual(3200);
  });

  it('G.711 passthrough still shows the VAD decoded PCM', () => {
    const { pushed, delivered } = run({ codec: 'mulaw', sampleRate: 8000 }, { codec: 'mulaw', sampleRate: 8000 }, 8000);
    expect(total(pushed)).toBe(4 * 160);
    expect(delivered.every((f) => 'payload' in f)).toBe(true);
  });

  it('G.711 passthrough with no VAD (off) hands the carrier bytes on undecoded, markers still in order', () => {
    const got: (AudioFrame | EncodedFrame | string)[] = [];
    let pushes = 0;
    const g = new IngressGraph({
      wireFormat: { codec: 'alaw', sampleRate: 8000 },
      sinkFormat: { codec: 'alaw', sampleRate: 8000 },
      vad: { sampleRate: 8000, wantsAudio: false, push: () => pushes++ },
      sink: (f) => got.push(f),
      onMarker: (m) => got.push(String(m)),
      onError: (err) => {
        throw err;
      },
    });
    const bytes = new Uint8Array(160).fill(0xd5);
    g.write({ payload: bytes, base64: 'b64', seq: 3, timestampMs: 60, receivedAtMs: 0 });
    g.writeMarker('turn-end');
    g.write({ payload: bytes, seq: 4, timestampMs: 80, receivedAtMs: 0, replay: true });
    expect(pushes).toBe(0);
    expect(got[1]).toBe('turn-end');
    const first = got[0] as EncodedFrame;
    expect(first).toEqual({ codec: 'alaw', payload: bytes, base64: 'b64', sampleRate: 8000, seq: 3, timestampMs: 60, sampleCount: 160 });
    expect((got[2] as EncodedFrame).seq).toBe(4);
  });

  it('a VAD that wants no audio still gets none decoded for a PCM provider, but the provider gets PCM', () => {
    const got: (AudioFrame | EncodedFrame)[] = [];
    const g = new IngressGraph({
      wireFormat: { codec: 'mulaw', sampleRate: 8000 },
      sinkFormat: { codec: 'pcm16', sampleRate: 8000 },
      vad: { sampleRate: 8000, wantsAudio: false, push: () => undefined },
      sink: (f) => got.push(f),
      onError: (err) => {
        throw err;
      },
    });
    g.write({ payload: new Uint8Array(160).fill(0xff), seq: 0, timestampMs: 0, receivedAtMs: 0 });
    expect('samples' in got[0] && got[0].samples.length).toBe(160);
  });
});
