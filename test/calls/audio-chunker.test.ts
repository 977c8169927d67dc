/**
 * AudioChunker alone: caller frames joined into chunks of PROVIDER_AUDIO_CHUNK_MS, byte for byte, in
 * order, each live frame's latency reported when its chunk goes out.
 */
import { describe, expect, it } from 'vitest';
import { AudioChunker } from '../../src/calls/audio-chunker.js';
import type { AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';

type Frame = AudioFrame | EncodedFrame;

const mulaw = (seq: number, fill = seq): EncodedFrame => ({
  codec: 'mulaw',
  payload: new Uint8Array(160).fill(fill),
  base64: Buffer.from(new Uint8Array(160).fill(fill)).toString('base64'),
  sampleRate: 8000,
  seq,
  timestampMs: seq * 20,
  sampleCount: 160,
});

const pcm = (seq: number, rate = 24000): AudioFrame => ({
  samples: new Int16Array(rate / 50).fill(seq),
  sampleRate: rate,
  seq,
  timestampMs: seq * 20,
});

const opus = (seq: number): EncodedFrame => ({ codec: 'opus', payload: new Uint8Array(40).fill(seq), sampleRate: 48000, seq, timestampMs: seq * 20, sampleCount: 960 });

function chunker(chunkMs: number) {
  const out: { frame: Frame; frames: number }[] = [];
  const delivered: number[] = [];
  const c = new AudioChunker({ chunkMs, emit: (frame, frames) => out.push({ frame, frames }), onDelivered: (at) => delivered.push(at) });
  return { c, out, delivered };
}

describe('AudioChunker', () => {
  it('joins three 20 ms mu-law frames into one 60 ms frame, bytes in order, without the parts base64', () => {
    const { c, out, delivered } = chunker(60);
    c.push(mulaw(1), 101);
    c.push(mulaw(2), 102);
    expect(out).toHaveLength(0);
    expect(delivered).toEqual([]);
    expect(c.pending).toBe(2);
    c.push(mulaw(3), 103);
    expect(out).toHaveLength(1);
    const chunk = out[0].frame as EncodedFrame;
    expect(out[0].frames).toBe(3);
    expect(chunk.codec).toBe('mulaw');
    expect(chunk.sampleCount).toBe(480);
    expect(chunk.seq).toBe(1);
    expect(chunk.timestampMs).toBe(20);
    expect(chunk.base64).toBeUndefined();
    expect([...chunk.payload.subarray(0, 160)].every((b) => b === 1)).toBe(true);
    expect([...chunk.payload.subarray(160, 320)].every((b) => b === 2)).toBe(true);
    expect([...chunk.payload.subarray(320)].every((b) => b === 3)).toBe(true);
    // Latency is reported when the chunk goes out, for every frame in it.
    expect(delivered).toEqual([101, 102, 103]);
    expect(c.pending).toBe(0);
  });

  it('joins PCM16 frames, and a frame of another rate starts a new chunk', () => {
    const { c, out } = chunker(40);
    c.push(pcm(1), 1);
    c.push(pcm(2, 16000), 2); // the rate changed (a new graph's format): the held frame goes first
    c.push(pcm(3, 16000), 3);
    expect(out.map((o) => o.frames)).toEqual([1, 2]);
    const joined = out[1].frame as AudioFrame;
    expect(joined.sampleRate).toBe(16000);
    expect(joined.samples.length).toBe(640);
    expect(joined.samples[0]).toBe(2);
    expect(joined.samples[639]).toBe(3);
    expect(joined.seq).toBe(2);
  });

  it('never joins Opus packets: a packet sends what is held first, then goes on alone', () => {
    const { c, out } = chunker(100);
    c.push(pcm(1, 48000), 1);
    c.push(opus(2), 2);
    expect(out.map((o) => o.frame.seq)).toEqual([1, 2]);
    expect(out[1].frame).toEqual(opus(2));
  });

  it('a frame as long as the chunk goes on as it came (the carrier base64 kept)', () => {
    const { c, out, delivered } = chunker(20);
    const f = mulaw(7);
    c.push(f, 5);
    expect(out).toEqual([{ frame: f, frames: 1 }]);
    expect(delivered).toEqual([5]);
  });

  it('flush sends a part-filled chunk; replays (no arrival time) are not reported; drop forgets', () => {
    const { c, out, delivered } = chunker(100);
    c.push(mulaw(1), undefined);
    c.push(mulaw(2), 42);
    c.flush();
    expect(out.map((o) => o.frames)).toEqual([2]);
    expect(delivered).toEqual([42]);
    c.flush();
    expect(out).toHaveLength(1);
    c.push(mulaw(3), 43);
    expect(c.drop()).toBe(1);
    c.flush();
    expect(out).toHaveLength(1);
    expect(delivered).toEqual([42]);
  });

  it('never goes over the chunk: 50 ms of 20 ms frames go two to a message', () => {
    const { c, out } = chunker(50);
    for (let seq = 1; seq <= 5; seq++) c.push(mulaw(seq), seq);
    expect(out.map((o) => o.frames)).toEqual([2, 2]);
    expect(c.pending).toBe(1);
  });

  it('a single held frame is flushed as it is, not copied', () => {
    const { c, out } = chunker(60);
    const f = mulaw(1);
    c.push(f, 1);
    c.flush();
    expect(out[0].frame).toBe(f);
  });
});
