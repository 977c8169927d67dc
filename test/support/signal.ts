/** Signal measures for tests. */

/**
 * Best normalised cross-correlation of `probe` against `reference` over lags 0..maxLag
 * (probe[i] is compared with reference[i + lag]).
 */
export function maxNormalisedCorrelation(probe: Int16Array, reference: Int16Array, maxLag: number): { ncc: number; lag: number } {
  if (maxLag <= 256) return search(probe, reference, 0, maxLag, 1, 1);
  // Coarse pass on every 4th sample and lag, then the exact value around the best coarse lag.
  const coarse = search(probe, reference, 0, maxLag, 4, 4);
  return search(probe, reference, Math.max(0, coarse.lag - 16), Math.min(maxLag, coarse.lag + 16), 1, 1);
}

function search(probe: Int16Array, reference: Int16Array, fromLag: number, toLag: number, lagStep: number, sampleStep: number): { ncc: number; lag: number } {
  let best = { ncc: -1, lag: fromLag };
  for (let lag = fromLag; lag <= toLag; lag += lagStep) {
    const n = Math.min(probe.length, reference.length - lag);
    if (n <= 0) break;
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i < n; i += sampleStep) {
      const x = probe[i];
      const y = reference[i + lag];
      xy += x * y;
      xx += x * x;
      yy += y * y;
    }
    const ncc = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
    if (ncc > best.ncc) best = { ncc, lag };
  }
  return best;
}

export function rmsOf(pcm: Int16Array): number {
  let s = 0;
  for (let i = 0; i < pcm.length; i++) s += pcm[i] * pcm[i];
  return pcm.length ? Math.sqrt(s / pcm.length) : 0;
}
