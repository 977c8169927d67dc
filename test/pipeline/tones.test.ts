/** The gateway's own tones: length, level, and the three falling steps (by zero crossings). */
import { describe, expect, it } from 'vitest';
import { fallingTone } from '../../src/pipeline/tones.js';

function crossingsPerSecond(pcm: Int16Array, rate: number): number {
  let n = 0;
  for (let i = 1; i < pcm.length; i++) if ((pcm[i - 1] < 0) !== (pcm[i] < 0)) n++;
  return (n / 2) * (rate / pcm.length);
}

describe('fallingTone', () => {
  it.each([8000, 16000, 48000])('at %i Hz: 0.9 s, 660 -> 550 -> 440 Hz thirds, peak under 6001', (rate) => {
    const tone = fallingTone(rate);
    expect(tone.length).toBe(Math.round(rate * 0.9));
    expect(Math.max(...tone.map(Math.abs))).toBeLessThanOrEqual(6000);
    const third = tone.length / 3;
    const freqs = [0, 1, 2].map((k) => crossingsPerSecond(tone.subarray(Math.round(k * third), Math.round((k + 1) * third)), rate));
    [660, 550, 440].forEach((f, k) => expect(Math.abs(freqs[k]! - f)).toBeLessThan(10));
  });
});
