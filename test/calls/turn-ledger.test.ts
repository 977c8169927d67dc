/** TurnLedger: which caller audio and words a new provider is given, as pure bookkeeping. */
import { describe, expect, it } from 'vitest';
import { TurnLedger } from '../../src/calls/turn-ledger.js';

function ledger() {
  const l = new TurnLedger(256);
  let seq = 0;
  const frames = (n: number, speaking = true) => {
    for (let i = 0; i < n; i++, seq++) l.frame({ payload: new Uint8Array(160), seq, timestampMs: seq * 20, receivedAtMs: 0 }, speaking);
  };
  const seqs = () => l.entries().map((e): number | string => (e.kind === 'frame' ? e.frame.seq : 'turn'));
  return { l, frames, seqs };
}

describe('TurnLedger', () => {
  it('keeps 1 s of lead-in while the caller is silent and nothing is pending, and the whole pending turn after', () => {
    const { l, frames, seqs } = ledger();
    frames(80, false);
    expect(seqs()[0]).toBe(30);
    frames(10);
    l.turnEnded({ startMs: 1600, endMs: 1800 });
    frames(70, false); // silence after the turn: nothing of the pending turn is trimmed
    expect(seqs()[0]).toBe(30);
    expect(l.pendingTurns).toBe(1);
    expect(l.awaitingAnswer).toBe(true);
  });

  it('an answered turn is accepted when heard: its audio goes, its words join the history', () => {
    const { l, frames, seqs } = ledger();
    frames(5);
    l.turnEnded({ startMs: 0, endMs: 100 });
    l.transcript({ role: 'user', text: 'hi' });
    l.transcript({ role: 'assistant', text: 'hello' });
    l.answered();
    expect(l.awaitingAnswer).toBe(false);
    expect(l.history).toEqual([]);
    frames(2);
    l.heard();
    expect(l.history).toEqual([
      { role: 'user', text: 'hi' },
      { role: 'assistant', text: 'hello' },
    ]);
    expect(seqs()).toEqual([5, 6]);
    expect(l.pendingTurns).toBe(0);
  });

  it('a switch before the answer was heard asks it again, words dropped', () => {
    const { l, frames, seqs } = ledger();
    frames(3);
    l.turnEnded({ startMs: 0, endMs: 60 });
    l.transcript({ role: 'assistant', text: 'half an answer' });
    l.answered();
    l.restartAnswers();
    expect(l.awaitingAnswer).toBe(true);
    l.heard(); // nothing is answered now: hearing accepts nothing
    expect(seqs()).toEqual([0, 1, 2, 'turn']);
    expect(l.history).toEqual([]);
  });

  it('a new turn end accepts the answers given before it; a barge-in accepts the pending turn', () => {
    const { l, frames, seqs } = ledger();
    frames(2);
    l.turnEnded({ startMs: 0, endMs: 40 });
    l.answered();
    frames(2);
    l.turnEnded({ startMs: 40, endMs: 80 });
    expect(seqs()).toEqual([2, 3, 'turn']);
    l.interrupted();
    expect(seqs()).toEqual([]);
    expect(l.nextSeq).toBe(4);
  });

  it('an empty answer is done with at once, or with the answers before it once they are heard', () => {
    const { l, frames, seqs } = ledger();
    frames(1);
    l.turnEnded({ startMs: 0, endMs: 20 });
    l.answeredEmpty();
    expect(l.pendingTurns).toBe(0);
    frames(1);
    l.turnEnded({ startMs: 20, endMs: 40 });
    l.answered(); // answer to turn 2 still playing
    frames(1);
    l.turnEnded({ startMs: 40, endMs: 60 }); // accepts turn 2 (the caller moved on)
    frames(1);
    l.turnEnded({ startMs: 60, endMs: 80 });
    l.answered();
    l.answeredEmpty(); // turn 4 empty, behind turn 3's unheard answer
    expect(l.awaitingAnswer).toBe(false);
    expect(seqs()).toEqual([2, 'turn', 3, 'turn']);
    l.heard();
    l.heard();
    expect(seqs()).toEqual([]);
  });

  it('entries from a sequence number on: what a rolled-back provider missed', () => {
    const { l, frames } = ledger();
    frames(6);
    l.turnEnded({ startMs: 0, endMs: 120 });
    frames(2);
    expect(l.entries(5).map((e) => (e.kind === 'frame' ? e.frame.seq : 'turn'))).toEqual([5, 'turn', 6, 7]);
  });
});
