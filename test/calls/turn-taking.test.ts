/**
 * TurnTaking alone, driven with TurnEvents and provider replies against a fake playout, carrier and
 * provider side: turn ends asked of the provider, barge-in (clear, drop, interrupt, record), a switch
 * cutting the reply, reply latency and the goodbye wait. Fake timers; runs in milliseconds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GOODBYE_MAX_WAIT_MS, TurnTaking, type Playout, type TurnPeer } from '../../src/calls/turn-taking.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import type { AudioFrame } from '../../src/pipeline/frame.js';

class FakePlayout implements Playout {
  playing = false;
  currentResponseId: string | undefined;
  queued = 0;
  heard = new Map<string, number>();
  pushed: string[] = [];
  ended: string[] = [];

  heardMs(responseId: string): number {
    return this.heard.get(responseId) ?? 0;
  }

  clear(): number {
    const n = this.queued;
    this.queued = 0;
    this.playing = false;
    this.currentResponseId = undefined;
    return n;
  }

  pushAudio(_frame: AudioFrame, responseId: string): void {
    this.pushed.push(responseId);
  }

  endResponse(responseId: string): void {
    this.ended.push(responseId);
  }
}

class FakePeer implements TurnPeer {
  calls: string[] = [];
  endTurn(turn: { startMs: number; endMs: number }): void {
    this.calls.push(`endTurn ${String(turn.startMs)}-${String(turn.endMs)}`);
  }
  interrupt(info: { responseId: string; heardMs: number }): void {
    this.calls.push(`interrupt ${info.responseId}@${String(info.heardMs)}`);
  }
  interruptOutgoing(info: { responseId: string; heardMs: number }): void {
    this.calls.push(`interruptOutgoing ${info.responseId}@${String(info.heardMs)}`);
  }
}

const FRAME: AudioFrame = { samples: new Int16Array(320), sampleRate: 16000, seq: 0, timestampMs: 0 };

function setup() {
  const metrics = createMetrics();
  const playout = new FakePlayout();
  const peer = new FakePeer();
  const carrier = { clears: 0, sendClear() { this.clears++; } };
  const turns = new TurnTaking({ playout, carrier, peer, metrics, logger: silentLogger() });
  return { metrics, playout, peer, carrier, turns };
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TurnTaking: turns', () => {
  it('a caller turn end asks the provider side to answer it, counted', async () => {
    const h = setup();
    h.turns.onTurnEvent({ type: 'speechEnd', startMs: 1000, timestampMs: 2400, durationMs: 1400 });
    expect(h.peer.calls).toEqual(['endTurn 1000-2400']);
    expect(h.turns.turns).toBe(1);
    expect(await counter(h.metrics, 'voice_gateway_turns_total')).toBe(1);
  });

  it('measures from the turn end to the first audio of its reply, once', () => {
    const h = setup();
    h.turns.onTurnEvent({ type: 'speechEnd', startMs: 0, timestampMs: 500, durationMs: 500 });
    vi.advanceTimersByTime(730);
    h.turns.replyStarted('r1');
    h.turns.replyAudio(FRAME, 'r1');
    vi.advanceTimersByTime(20);
    h.turns.replyAudio(FRAME, 'r1');
    h.turns.replyDone('r1');
    expect(h.turns.replyLatencyMs).toEqual([730]);
    expect(h.playout.pushed).toEqual(['r1', 'r1']);
    expect(h.playout.ended).toEqual(['r1']);
  });

  it('ignores everything once closed', () => {
    const h = setup();
    h.turns.close();
    h.playout.playing = true;
    h.turns.onTurnEvent({ type: 'speechEnd', startMs: 0, timestampMs: 500, durationMs: 500 });
    h.turns.onTurnEvent({ type: 'speechStart', timestampMs: 600, probability: 0.9, onsetMs: 630, confirmedAtMs: 760 });
    expect(h.peer.calls).toEqual([]);
    expect(h.carrier.clears).toBe(0);
  });
});

describe('TurnTaking: barge-in', () => {
  it('caller speech over a reply clears the carrier, drops our queue, interrupts the provider and records what was heard', async () => {
    const h = setup();
    h.turns.replyStarted('r1');
    h.playout.playing = true;
    h.playout.currentResponseId = 'r1';
    h.playout.queued = 12;
    h.playout.heard.set('r1', 340);
    // Heard from 5130, confirmed by the window ending at 5258, whose score came 21.6 ms after it arrived.
    h.turns.onTurnEvent({ type: 'speechStart', timestampMs: 5100, probability: 0.9, onsetMs: 5130, confirmedAtMs: 5258, scoringLagMs: 21.6 });
    expect(h.carrier.clears).toBe(1);
    expect(h.playout.queued).toBe(0);
    expect(h.peer.calls).toEqual(['interrupt r1@340']);
    expect(h.turns.bargeIns).toEqual([{ atMs: 5100, responseId: 'r1', heardMs: 340, framesDropped: 12, reactionMs: 150 }]);
    expect(await counter(h.metrics, 'voice_gateway_barge_ins_total')).toBe(1);
    expect(await counter(h.metrics, 'voice_gateway_frames_dropped_total', { stage: 'barge_in' })).toBe(12);
    const reaction = (await h.metrics.bargeInReactionSeconds.get()).values;
    expect(reaction.find((v) => v.metricName === 'voice_gateway_barge_in_reaction_seconds_count')?.value).toBe(1);
    expect(reaction.find((v) => v.metricName === 'voice_gateway_barge_in_reaction_seconds_sum')?.value).toBeCloseTo(0.1496, 6);
    expect(reaction.find((v) => v.metricName === 'voice_gateway_barge_in_reaction_seconds_bucket' && v.labels.le === 0.15)?.value).toBe(1);
  });

  it("does not time a barge-in the provider's own VAD heard: it never says when the caller began", async () => {
    const h = setup();
    h.turns.replyStarted('r3');
    h.playout.playing = true;
    h.turns.callerSpeechStarted(2000);
    expect(h.turns.bargeIns).toEqual([{ atMs: 2000, responseId: 'r3', heardMs: 0, framesDropped: 0 }]);
    expect(await counter(h.metrics, 'voice_gateway_barge_ins_total')).toBe(1);
    const reaction = (await h.metrics.bargeInReactionSeconds.get()).values;
    expect(reaction.find((v) => v.metricName === 'voice_gateway_barge_in_reaction_seconds_count')?.value).toBe(0);
  });

  it('names the last reply when the playout no longer knows which one plays', () => {
    const h = setup();
    h.turns.replyStarted('r7');
    h.playout.playing = true;
    h.turns.callerSpeechStarted(900); // the provider's own VAD heard the caller
    expect(h.peer.calls).toEqual(['interrupt r7@0']);
  });

  it('speech while nothing plays is not a barge-in', () => {
    const h = setup();
    h.turns.onTurnEvent({ type: 'speechStart', timestampMs: 100, probability: 0.9, onsetMs: 130, confirmedAtMs: 258 });
    expect(h.peer.calls).toEqual([]);
    expect(h.carrier.clears).toBe(0);
    expect(h.turns.bargeIns).toEqual([]);
  });
});

describe('TurnTaking: a provider switch', () => {
  it('cuts the reply the caller hears and tells the old provider where', async () => {
    const h = setup();
    h.turns.replyStarted('r2');
    h.playout.playing = true;
    h.playout.currentResponseId = 'r2';
    h.playout.queued = 4;
    h.playout.heard.set('r2', 200);
    h.turns.switchStarted();
    expect(h.carrier.clears).toBe(1);
    expect(h.peer.calls).toEqual(['interruptOutgoing r2@200']);
    expect(h.turns.bargeIns).toEqual([]);
    expect(await counter(h.metrics, 'voice_gateway_frames_dropped_total', { stage: 'switch' })).toBe(4);
  });

  it('with nothing playing, clears nothing', () => {
    const h = setup();
    h.turns.switchStarted();
    expect(h.carrier.clears).toBe(0);
    expect(h.peer.calls).toEqual([]);
  });
});

describe('TurnTaking: the goodbye', () => {
  it('resolves once the reply is complete and has played, not before', async () => {
    const h = setup();
    h.turns.replyStarted('bye');
    h.playout.playing = true;
    let played: boolean | undefined;
    void h.turns.goodbye('the caller said goodbye').then((p) => (played = p));
    await vi.advanceTimersByTimeAsync(500);
    expect(played).toBeUndefined();
    h.turns.replyDone('bye'); // complete, still playing
    await vi.advanceTimersByTimeAsync(500);
    expect(played).toBeUndefined();
    h.playout.playing = false;
    await vi.advanceTimersByTimeAsync(50);
    expect(played).toBe(true);
  });

  it('a switch ends the reply in progress: its responseDone will never come', async () => {
    const h = setup();
    h.turns.replyStarted('bye');
    let played: boolean | undefined;
    void h.turns.goodbye('done').then((p) => (played = p));
    h.turns.switchStarted();
    await vi.advanceTimersByTimeAsync(50);
    expect(played).toBe(true);
  });

  it('a stuck playout does not hold the call past the limit', async () => {
    const h = setup();
    h.playout.playing = true;
    let played: boolean | undefined;
    void h.turns.goodbye('done').then((p) => (played = p));
    await vi.advanceTimersByTimeAsync(GOODBYE_MAX_WAIT_MS - 100);
    expect(played).toBeUndefined();
    await vi.advanceTimersByTimeAsync(150);
    expect(played).toBe(true);
  });

  it('is asked once; a second ask, or a close while waiting, resolves false', async () => {
    const h = setup();
    h.playout.playing = true;
    const first = h.turns.goodbye('one');
    await expect(h.turns.goodbye('two')).resolves.toBe(false);
    h.turns.close();
    await expect(first).resolves.toBe(false);
  });
});
