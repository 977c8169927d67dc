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
