/**
 * DTMF in band: tone pairs to play into a call, and a Goertzel detector to hear them. Both are pure
 * and synchronous (arrays in, arrays out).
 *
 * Levels follow ITU-T Q.23/Q.24 practice: the high-group tone a little louder than the low one
 * (-7 and -9 dBm0, 2 dB "twist"), well inside what G.711 carries cleanly. 0 dBm0 is taken as a sine
 * of peak 22,300 in PCM16 (G.711's full-scale sine is about +3.1 dBm0 and decodes to about 32,100).
 * Tones last 80-100 ms with 60+ ms gaps so every receiver counts each digit once; each tone has a 4 ms
 * raised-cosine ramp at both ends, which keeps its energy inside the DTMF bands (a hard edge splatters).
 */

const LOW = [697, 770, 852, 941] as const;
const HIGH = [1209, 1336, 1477, 1633] as const;
const KEYS = ['123A', '456B', '789C', '*0#D'] as const;
const DBM0_PEAK = 22_300;
const PAUSES: Record<string, number> = { w: 500, W: 1000 };

/** Digits a tone exists for, plus w (0.5 s) and W (1 s) pauses as Telnyx and Twilio spell them. */
export const DTMF_DIGITS = /^[0-9A-D*#wW]+$/;

function frequencies(digit: string): [number, number] | undefined {
  for (let r = 0; r < 4; r++) {
    const c = KEYS[r].indexOf(digit);
    if (c >= 0) return [LOW[r], HIGH[c]];
  }
  return undefined;
}

export interface DtmfToneOptions {
  readonly sampleRate: number;
  readonly toneMs?: number;
  readonly gapMs?: number;
  readonly lowDbm0?: number;
  readonly highDbm0?: number;
}

/** PCM16 for a digit string: tone, gap, tone, gap... Unknown characters throw. */
export function dtmfTones(digits: string, opts: DtmfToneOptions): Int16Array {
  const rate = opts.sampleRate;
  const toneN = Math.round(((opts.toneMs ?? 90) * rate) / 1000);
  const gapN = Math.round(((opts.gapMs ?? 80) * rate) / 1000);
  const rampN = Math.min(Math.round((4 * rate) / 1000), toneN >> 1);
  const lowAmp = DBM0_PEAK * 10 ** ((opts.lowDbm0 ?? -9) / 20);
  const highAmp = DBM0_PEAK * 10 ** ((opts.highDbm0 ?? -7) / 20);
  let total = 0;
  for (const d of digits) {
    if (PAUSES[d] !== undefined) total += Math.round((PAUSES[d] * rate) / 1000);
    else if (frequencies(d)) total += toneN + gapN;
    else throw new RangeError(`'${d}' is not a DTMF digit`);
  }
  const out = new Int16Array(total);
  let at = 0;
  for (const d of digits) {
    const pause = PAUSES[d];
    if (pause !== undefined) {
      at += Math.round((pause * rate) / 1000);
      continue;
    }
    const [fl, fh] = frequencies(d)!;
    const wl = (2 * Math.PI * fl) / rate;
    const wh = (2 * Math.PI * fh) / rate;
    for (let i = 0; i < toneN; i++) {
      const edge = Math.min(i, toneN - 1 - i);
      const gain = edge >= rampN ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / rampN);
      out[at + i] = Math.round(gain * (lowAmp * Math.sin(wl * i) + highAmp * Math.sin(wh * i)));
    }
    at += toneN + gapN;
  }
  return out;
}

export interface DetectedDigit {
  readonly digit: string;
  /** Sample index (from the first sample pushed) where the block that confirmed it started. */
  readonly atSample: number;
}

/**
 * Goertzel DTMF detector. Blocks of 205 samples at 8 kHz (about 25 ms, 39 Hz bins: the classic
 * choice that separates the 697/770 Hz rows); a digit counts when two blocks in a row agree and is
 * reported once, until a block without it. A block counts when one row and one column tone carry
 * most of its energy, each clearly above the rest of its group, with no more than 8 dB twist.
 */
export class DtmfDetector {
  readonly #n: number;
  readonly #coeffs: number[];
  readonly #block: Float64Array;
  #fill = 0;
  #consumed = 0;
  #candidate: string | undefined;
  #candidateCount = 0;
  #reported: string | undefined;

  constructor(readonly sampleRate = 8000) {
    this.#n = Math.round((205 * sampleRate) / 8000);
    this.#block = new Float64Array(this.#n);
    this.#coeffs = [...LOW, ...HIGH].map((f) => 2 * Math.cos((2 * Math.PI * Math.round((f * this.#n) / sampleRate)) / this.#n));
  }

  push(samples: Int16Array): DetectedDigit[] {
    const found: DetectedDigit[] = [];
    for (let i = 0; i < samples.length; i++) {
      this.#block[this.#fill++] = samples[i];
      if (this.#fill === this.#n) {
        const startedAt = this.#consumed;
        this.#consumed += this.#n;
        this.#fill = 0;
        const digit = this.#classify();
        if (digit === undefined) {
          this.#candidate = undefined;
          this.#candidateCount = 0;
          this.#reported = undefined;
          continue;
        }
        if (digit === this.#candidate) this.#candidateCount++;
        else {
          this.#candidate = digit;
          this.#candidateCount = 1;
        }
        if (this.#candidateCount >= 2 && this.#reported !== digit) {
          this.#reported = digit;
          found.push({ digit, atSample: startedAt });
        }
      }
    }
    return found;
  }

  #classify(): string | undefined {
    const x = this.#block;
    const n = this.#n;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += x[i] * x[i];
    if (energy / n < 100 * 100) return undefined; // quieter than about -50 dBm0: not a tone
    const share = this.#coeffs.map((coeff) => {
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const s0 = x[i] + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      // Power at the bin, as a fraction of the block's energy (1 for a pure tone on the bin).
      return (2 * (s1 * s1 + s2 * s2 - coeff * s1 * s2)) / (n * energy);
    });
    const pick = (from: number) => {
      const group = share.slice(from, from + 4);
      const best = group.indexOf(Math.max(...group));
      const second = Math.max(...group.filter((_, i) => i !== best));
      return { best, power: group[best], second };
    };
    const row = pick(0);
    const col = pick(4);
    if (row.power + col.power < 0.6) return undefined;
    if (row.power < 4 * row.second || col.power < 4 * col.second) return undefined;
    const twist = row.power / col.power;
    if (twist > 6.3 || twist < 1 / 6.3) return undefined;
    return KEYS[row.best][col.best];
  }
}
