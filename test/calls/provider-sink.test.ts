import { describe, expect, it } from 'vitest';
import { ProviderSink } from '../../src/calls/provider-sink.js';
import type { AudioFrame } from '../../src/pipeline/frame.js';
import type { ProviderSession, TurnInfo } from '../../src/providers/types.js';

const pcm = (seq: number): AudioFrame => ({ samples: new Int16Array(160), sampleRate: 8000, seq, timestampMs: seq * 20 });

/** Records what reached the session, in order. */
function recordingSession(log: string[]): ProviderSession {
  const format = { codec: 'pcm16', sampleRate: 8000 } as unknown as ProviderSession['inputFormat'];
  return {
    provider: 'rec',
    inputFormat: format,
    outputFormat: format,
    pushAudio: (f) => log.push(`a${(f as AudioFrame).seq}`),
    endTurn: (t: TurnInfo) => log.push(`t${t.endMs}`),
    interrupt: () => undefined,
    events: (async function* () {})(),
    close: async () => undefined,
  };
}

describe('ProviderSink', () => {
  it('holds frames and turn ends written before attach and delivers them in order on attach', () => {
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined });
    sink.write(pcm(1));
    sink.endTurn({ startMs: 0, endMs: 20 });
    sink.write(pcm(2));
    expect(sink.heldFrames).toBe(2);
    const log: string[] = [];
    sink.attach(recordingSession(log));
    expect(log).toEqual(['a1', 't20', 'a2']);
    expect(sink.heldFrames).toBe(0);
    expect(sink.framesDelivered).toBe(2);
    sink.write(pcm(3));
    expect(log).toEqual(['a1', 't20', 'a2', 'a3']);
  });

  it('drops the oldest held audio past the limit, counts it, and keeps turn ends', () => {
    const drops: number[] = [];
    const sink = new ProviderSink({ maxHeldFrames: 2, onDrop: (n) => drops.push(n) });
    sink.write(pcm(1));
    sink.endTurn({ startMs: 0, endMs: 20 });
    sink.write(pcm(2));
    sink.write(pcm(3));
    expect(drops).toEqual([1]);
    const log: string[] = [];
    sink.attach(recordingSession(log));
    expect(log).toEqual(['t20', 'a2', 'a3']);
  });

  it('after detach holds again instead of writing to the old session', () => {
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined });
    const log: string[] = [];
    const s = recordingSession(log);
    sink.attach(s);
    expect(sink.detach()).toBe(s);
    sink.write(pcm(1));
    expect(log).toEqual([]);
    expect(sink.heldFrames).toBe(1);
  });
});

describe('ProviderSink with chunks (PROVIDER_AUDIO_CHUNK_MS)', () => {
  function sizingSession(log: (number | string)[]): ProviderSession {
    const format = { codec: 'pcm16', sampleRate: 8000 } as unknown as ProviderSession['inputFormat'];
    return {
      provider: 'rec',
      inputFormat: format,
      outputFormat: format,
      pushAudio: (f) => log.push((f as AudioFrame).samples.length),
      endTurn: (t: TurnInfo) => log.push(`t${t.endMs}`),
      interrupt: () => undefined,
      events: (async function* () {})(),
      close: async () => undefined,
    };
  }

  it('sends 60 ms chunks, and a turn end sends the chunk it completes before the turn', () => {
    const delivered: number[] = [];
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined, onDelivered: (at) => delivered.push(at), chunkMs: 60 });
    const log: (number | string)[] = [];
    sink.attach(sizingSession(log));
    for (let seq = 1; seq <= 4; seq++) sink.write(pcm(seq), seq);
    expect(log).toEqual([480]);
    expect(delivered).toEqual([1, 2, 3]);
    sink.endTurn({ startMs: 0, endMs: 80 });
    expect(log).toEqual([480, 160, 't80']);
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(sink.framesDelivered).toBe(4);
  });

  it('reports the latency of frames held before attach once, and chunks them on attach', () => {
    const delivered: number[] = [];
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined, onDelivered: (at) => delivered.push(at), chunkMs: 40 });
    sink.write(pcm(1), 11);
    sink.write(pcm(2), 12);
    sink.write(pcm(3), 13);
    expect(delivered).toEqual([11, 12, 13]);
    const log: (number | string)[] = [];
    sink.attach(sizingSession(log));
    expect(log).toEqual([320]);
    sink.flush();
    expect(log).toEqual([320, 160]);
    expect(delivered).toEqual([11, 12, 13]);
  });

  it('detach drops a part-filled chunk: neither the old session nor a later one gets it', () => {
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined, chunkMs: 100 });
    const log: (number | string)[] = [];
    sink.attach(sizingSession(log));
    sink.write(pcm(1), 1);
    sink.detach();
    const later: (number | string)[] = [];
    sink.attach(sizingSession(later));
    sink.flush();
    expect(log).toEqual([]);
    expect(later).toEqual([]);
  });

  it('at 20 ms (the default) every frame goes on as it comes, even one shorter than 20 ms', () => {
    const sink = new ProviderSink({ maxHeldFrames: 10, onDrop: () => undefined, chunkMs: 20 });
    const log: (number | string)[] = [];
    sink.attach(sizingSession(log));
    const tenMs = (seq: number): AudioFrame => ({ samples: new Int16Array(80), sampleRate: 8000, seq, timestampMs: seq * 10 });
    sink.write(tenMs(1), 1);
    sink.write(tenMs(2), 2);
    expect(log).toEqual([80, 80]);
  });
});
