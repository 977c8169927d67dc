/**
 * Tones the gateway plays to a caller on its own (not a provider's audio). Pure: a rate in, PCM out.
 */

/** Steps of the "call is over" tone, and its level (about -11 dBm0: clearly heard, never harsh). */
const FALLING_STEPS_HZ = [660, 550, 440] as const;
const FALLING_PEAK = 6000;

/**
 * 0.9 s falling three-step tone: what a caller hears when no provider can take the call, before the
 * hangup, so the line does not just go dead.
 */
export function fallingTone(sampleRate: number, seconds = 0.9): Int16Array {
  const tone = new Int16Array(Math.round(sampleRate * seconds));
  const step = tone.length / FALLING_STEPS_HZ.length;
  for (let i = 0; i < tone.length; i++) {
    const f = FALLING_STEPS_HZ[Math.min(FALLING_STEPS_HZ.length - 1, Math.floor(i / step))];
    tone[i] = Math.round(FALLING_PEAK * Math.sin((2 * Math.PI * f * i) / sampleRate));
  }
  return tone;
}
