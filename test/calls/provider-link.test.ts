/**
 * ProviderLink alone: frames and turn ends held in order until a session is attached, replays
 * (what a switch writes) kept out of VAD and latency, and retire/finish closing the session.
 */
import { describe, expect, it } from 'vitest';
import { ProviderLink } from '../../src/calls/provider-link.js';
import type { RingEntry } from '../../src/calls/frame-ring.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';
import type { ProviderEvent, ProviderSession, TurnInfo } from '../../src/providers/types.js';

const PCM16K: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };

function recordingSession() {
  const log: string[] = [];
  const session: ProviderSession = {
    provider: 'p',
    inputFormat: PCM16K,
    outputFormat: PCM16K,
    events: { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined as unknown as ProviderEvent }) }) },
    pushAudio: (f: AudioFrame | EncodedFrame) => log.push(`frame ${String(f.seq)}`),
    endTurn: (t: TurnInfo) => log.push(`turn ${String(t.endMs)}`),
    interrupt: () => undefined,
    close: () => {
      log.push('closed');
      return Promise.resolve();
    },
  };
  return { session, log };
}

function link(chunkMs?: number) {
  const seen = { pcm: [] as number[], delivered: 0, drops: 0, errors: 0 };
  const l = new ProviderLink({
    provider: { name: 'p', inputFormats: [PCM16K], connect: () => Promise.reject(new Error('unused')) },
    inputFormat: PCM16K,
    wire: { codec: 'pcm16', sampleRate: 16000 },
    // The VAD runs at the wire rate here, so media time / 20 ms is the frame's seq.
    vad: { sampleRate: 16000, push: (_samples, timestampMs) => seen.pcm.push(timestampMs / 20) },
    onDelivered: () => seen.delivered++,
    onDrop: (_stage, n) => (seen.drops += n),
    onError: () => seen.errors++,
    maxHeldFrames: 100,
    chunkMs,
  });
  return { l, seen };
}

const frame = (seq: number) => ({ payload: new Uint8Array(640), seq, timestampMs: seq * 20, receivedAtMs: performance.now() });

describe('ProviderLink', () => {
  it('replays ring entries ahead of live frames, in order, and VAD and latency see only the live ones', () => {
    const { l, seen } = link();
    const entries: RingEntry[] = [
      { kind: 'frame', frame: frame(0) },
      { kind: 'frame', frame: frame(1) },
      { kind: 'turnEnd', turn: { startMs: 0, endMs: 40 }, afterSeq: 1 },
      { kind: 'frame', frame: frame(2) },
    ];
    expect(l.replay(entries)).toEqual({ frames: 3, turns: 1, firstSeq: 0, lastSeq: 2 });
    l.write(frame(3));
    expect(l.heldFrames).toBe(4);
    const { session, log } = recordingSession();
    l.attach(session);
    l.write(frame(4));
    expect(log).toEqual(['frame 0', 'frame 1', 'turn 40', 'frame 2', 'frame 3', 'frame 4']);
    expect(seen.pcm).toEqual([3, 4]);
    expect(seen.delivered).toBe(2);
    expect(l.framesDelivered).toBe(5);
  });

  it('a retired link takes nothing more and closes its session only when told to', async () => {
    const { l } = link();
    const { session, log } = recordingSession();
    l.attach(session);
    await l.retire({ closeSession: false });
    l.write(frame(0));
    l.endTurn({ startMs: 0, endMs: 20 });
    expect(log).toEqual([]);
    expect(l.retired).toBe(true);
    const other = link();
    const s2 = recordingSession();
    other.l.attach(s2.session);
    await other.l.retire({ closeSession: true });
    expect(s2.log).toEqual(['closed']);
  });

  it('finish delivers what was written, then closes the session', async () => {
    const { l } = link();
    const { session, log } = recordingSession();
    l.attach(session);
    l.write(frame(7));
    await l.finish();
    expect(log).toEqual(['frame 7', 'closed']);
  });

  it('with 60 ms chunks: a frame counts as delivered when its chunk goes out, and finish sends a part-filled one before closing', async () => {
    const { l, seen } = link(60);
    const { session, log } = recordingSession();
    l.attach(session);
    l.write(frame(1));
    l.write(frame(2));
    expect(log).toEqual([]);
    expect(seen.delivered).toBe(0);
    l.write(frame(3));
    expect(log).toEqual(['frame 1']); // one message, numbered by its first frame
    expect(seen.delivered).toBe(3);
    l.write(frame(4));
    await l.finish();
    expect(log).toEqual(['frame 1', 'frame 4', 'closed']);
    expect(seen.delivered).toBe(4);
    expect(l.framesDelivered).toBe(4);
  });

  // Closed: its part-filled chunk is dropped (the replay ring gives those frames to the next provider).
  // Handed on (a rolled-back switch): the session gets that chunk first, ahead of what is replayed to it.
  it.each([
    { closeSession: true, sent: ['closed'], delivered: 0 },
    { closeSession: false, sent: ['frame 1'], delivered: 2 },
  ])('with chunks, a link retired with closeSession $closeSession sends $sent', async ({ closeSession, sent, delivered }) => {
    const { l, seen } = link(60);
    const { session, log } = recordingSession();
    l.attach(session);
    l.write(frame(1));
    l.write(frame(2));
    await l.retire({ closeSession });
    expect(log).toEqual(sent);
    expect(seen.delivered).toBe(delivered);
  });
});
