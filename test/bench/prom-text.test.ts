/**
 * src/bench/prom-text.ts: reading a /metrics scrape, and a histogram's quantile from its buckets the
 * way PromQL's histogram_quantile estimates it (the bench's barge-in reaction row).
 */
import { describe, expect, it } from 'vitest';
import { bucketQuantile, parsePromText, promBucketDeltas, promByLabel, promValue } from '../../src/bench/prom-text.js';

const SCRAPE = `# HELP voice_gateway_barge_in_reaction_seconds x
# TYPE voice_gateway_barge_in_reaction_seconds histogram
voice_gateway_barge_in_reaction_seconds_bucket{le="0.1"} 2
voice_gateway_barge_in_reaction_seconds_bucket{le="0.2"} 6
voice_gateway_barge_in_reaction_seconds_bucket{le="0.5"} 10
voice_gateway_barge_in_reaction_seconds_bucket{le="+Inf"} 10
voice_gateway_barge_in_reaction_seconds_sum 2.1
voice_gateway_barge_in_reaction_seconds_count 10
voice_gateway_turns_total 7
`;

describe('prom-text', () => {
  it('reads samples by name and label', () => {
    const m = parsePromText(SCRAPE);
    expect(promValue(m, 'voice_gateway_turns_total')).toBe(7);
    expect(promByLabel(m, 'voice_gateway_barge_in_reaction_seconds_bucket', 'le')).toEqual({ '0.1': 2, '0.2': 6, '0.5': 10, '+Inf': 10 });
  });

  it('estimates a quantile linearly inside the bucket its rank falls in, as histogram_quantile does', () => {
    const buckets = promByLabel(parsePromText(SCRAPE), 'voice_gateway_barge_in_reaction_seconds_bucket', 'le');
    expect(bucketQuantile(buckets, 0.5)).toBeCloseTo(0.175, 9); // rank 5: 0.1 + 0.1 * 3/4
    expect(bucketQuantile(buckets, 0.95)).toBeCloseTo(0.4625, 9); // rank 9.5: 0.2 + 0.3 * 3.5/4
    expect(bucketQuantile(buckets, 0.1)).toBeCloseTo(0.05, 9); // in the first bucket, from 0
  });

  it("keeps a window's empty buckets, which bound the next one from below", () => {
    const before = parsePromText(SCRAPE);
    const after = parsePromText(SCRAPE.replace('{le="0.5"} 10', '{le="0.5"} 14').replace('{le="+Inf"} 10', '{le="+Inf"} 14'));
    const window = promBucketDeltas(after, before, 'voice_gateway_barge_in_reaction_seconds_bucket');
    expect(window).toEqual({ '0.1': 0, '0.2': 0, '0.5': 4, '+Inf': 4 });
    // All four between 0.2 and 0.5: the median is inside that bucket, not interpolated from 0.
    expect(bucketQuantile(window, 0.5)).toBeCloseTo(0.35, 9);
  });

  it('answers the last finite bound for a rank in +Inf, and nothing without observations', () => {
    expect(bucketQuantile({ '0.1': 1, '+Inf': 4 }, 0.9)).toBe(0.1);
    expect(bucketQuantile({ '0.1': 0, '+Inf': 0 }, 0.5)).toBeUndefined();
    expect(bucketQuantile({}, 0.5)).toBeUndefined();
  });
});
