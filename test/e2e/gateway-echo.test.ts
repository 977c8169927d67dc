/**
 * The whole path on the embedded echo provider: webhook -> media stream -> decode -> VAD/turns ->
 * resample -> echo -> resample -> encode -> paced egress -> the simulated caller. Real time, real
 * fixtures, Silero VAD on a worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlaw, decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { readBytes, readLabels } from '../support/fixtures.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { maxNormalisedCorrelation } from '../support/signal.js';

const RATE = 8000;

function expectEchoOfEachUtterance(
  replies: { pcm: Int16Array; startMs: number }[],
  input: Int16Array,
  name: string,
) {
  const labels = readLabels(name);
  expect(replies.map((r) => Math.round(r.startMs))).toHaveLength(labels.utterances.length);
  labels.utterances.forEach((u, i) => {
    // Search the reply inside the input around its utterance, allowing for VAD padding both ways.
    const from = Math.max(0, Math.round(((u.startMs - 600) * RATE) / 1000));
    const to = Math.min(input.length, Math.round(((u.endMs + 1200) * RATE) / 1000));
    const reference = input.subarray(from, to);
    const probe = replies[i].pcm.subarray(0, Math.min(replies[i].pcm.length, reference.length));
    const { ncc } = maxNormalisedCorrelation(probe, reference, Math.max(0, reference.length - Math.floor(probe.length * 0.8)));
    expect(ncc, `reply ${String(i)} vs utterance ${u.clip}`).toBeGreaterThanOrEqual(0.8);
  });
}

function expectNotEchoOf(replies: { pcm: Int16Array }[], ownName: string, other: Int16Array) {
  readLabels(ownName).utterances.forEach((u, i) => {
    const from = Math.max(0, Math.round(((u.startMs - 1500) * RATE) / 1000));
    const to = Math.min(other.length, Math.round(((u.endMs + 2500) * RATE) / 1000));
    const probe = replies[i].pcm.subarray(0, 4000);
    const { ncc } = maxNormalisedCorrelation(probe, other.subarray(from, to), Math.max(0, to - from - probe.length));
    expect(ncc).toBeLessThan(0.5);
  });
}

describe('gateway end to end on the echo provider', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ TELNYX_CODEC: 'PCMA' });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('two concurrent calls (Twilio mu-law, Telnyx A-law) each hear one echo per utterance, and only their own', { timeout: 120_000 }, async () => {
    const quiet = readBytes('calls/call-quiet.8k.ulaw');
    const noisy = readBytes('calls/call-noisy.8k.alaw');
    const [a, b] = await Promise.all([
      simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: quiet, codec: 'mulaw', tailMs: 2500 }),
      simulateCall({ transport: 'telnyx', baseUrl: gw.baseUrl, audio: noisy, codec: 'alaw', tailMs: 2500 }),
    ]);
    const quietPcm = decodeMulaw(quiet);
    const noisyPcm = decodeAlaw(noisy);
    expectEchoOfEachUtterance(a.replies, quietPcm, 'call-quiet');
    expectEchoOfEachUtterance(b.replies, noisyPcm, 'call-noisy');
    // Neither call's replies resemble what the other caller said around the same time.
    expectNotEchoOf(a.replies, 'call-quiet', noisyPcm);
    expectNotEchoOf(b.replies, 'call-noisy', quietPcm);
    expect(a.clears).toHaveLength(0);
    expect(b.clears).toHaveLength(0);
    for (const r of [...a.replies, ...b.replies]) expect(r.latencyMs).toBeLessThan(1500);
    expect(await metricValue(gw.gateway, 'voice_gateway_calls_total', { transport: 'twilio' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(gw.gateway, 'voice_gateway_calls_total', { transport: 'telnyx' })).toBeGreaterThanOrEqual(1);
  });

  it('barge-in: speaking over a reply brings a clear within 300 ms of speech onset and no more of that reply', async () => {
    const audio = readBytes('calls/call-quiet.8k.ulaw');
    const labels = readLabels('call-quiet');
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', turnTaking: 'overlap', tailMs: 2000 });
    // Reply 1 (to utterance 1) is still playing when utterance 2 starts.
    const onsetMs = result.audioFrameSentAtMs[Math.floor(labels.utterances[1].startMs / 20)];
    expect(result.clearAtMs.length).toBeGreaterThanOrEqual(1);
    const clearAt = result.clearAtMs[0];
    expect(clearAt - onsetMs, `clear ${String(Math.round(clearAt - onsetMs))} ms after onset`).toBeLessThanOrEqual(300);
    expect(clearAt).toBeGreaterThan(onsetMs - 250);
    // Nothing of the interrupted reply arrives after the clear: the next audio is the reply to utterance 2.
    const utterance2EndMs = result.audioFrameSentAtMs[Math.floor(labels.utterances[1].endMs / 20)];
    const after = result.arrivalsMs.filter((t) => t > clearAt + 5 && t < utterance2EndMs);
    expect(after).toHaveLength(0);
    expect(result.replies[0].cleared).toBe(true);
    expect(await metricValue(gw.gateway, 'voice_gateway_barge_ins_total')).toBeGreaterThanOrEqual(1);
    const bargeLog = gw.logs.find((l) => l.event === 'barge_in');
    expect(bargeLog).toBeDefined();
    expect(Number(bargeLog!.heardMs)).toBeGreaterThan(0);
    // The gateway's own account of it: at least the 100 ms of speech that confirms a turn, within the bar.
    const reactionMs = Number(bargeLog!.reactionMs);
    expect(reactionMs).toBeGreaterThanOrEqual(100);
    expect(reactionMs).toBeLessThanOrEqual(300);
    const reaction = (await gw.gateway.metrics.bargeInReactionSeconds.get()).values;
    expect(reaction.find((v) => v.metricName === 'voice_gateway_barge_in_reaction_seconds_count')?.value).toBeGreaterThanOrEqual(1);
  });
});
