/**
 * The provider fake's records crossing to the ledger's thread (bench/provider-ledger-link.ts): in
 * order, with their times, and a reply frame that reaches a caller before the event loop delivered
 * its record is still matched, because the ledger reads the port's queue when it meets a tag it does
 * not know. A MessageChannel in one thread has the same queue as one between threads.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LedgerPoster, LedgerReceiver } from '../../bench/provider-ledger-link.js';
import { FrameLedger } from '../../src/bench/ledger.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function link() {
  const ledger = new FrameLedger({ calls: 2, maxFrames: 100, lateIngressMs: 60 });
  ledger.setWindow(0, 1000);
  const { port1, port2 } = new MessageChannel();
  const poster = new LedgerPoster(port2);
  const receiver = new LedgerReceiver(port1, ledger);
  receiver.listen();
  open.push(receiver, port2);
  return { ledger, poster, receiver };
}

describe('provider ledger link', () => {
  it('matches a reply frame whose record is still queued when the caller gets it', () => {
    const { ledger, poster } = link();
    ledger.sent(1, 0, 10);
    ledger.sent(1, 1, 30);
    poster.providerReceived({ call: 1, seq: 0 }, 11);
    poster.providerReceived({ call: 1, seq: 1 }, 31);
    poster.providerSent('resp_1', 'item_1', [{ call: 1, seq: 0 }, { call: 1, seq: 1 }], 40);
    // No event-loop turn between: the records are only in the port's queue.
    expect(ledger.callerReceived({ call: 1, seq: 0 }, 45)).toEqual({ response: 0, index: 0 });
    expect(ledger.callerReceived({ call: 1, seq: 1 }, 65)).toEqual({ response: 0, index: 1 });
    const t = ledger.tally([0, 2]);
    expect(t).toMatchObject({ sent: 2, atProvider: 2, lostIngress: 0, replyFramesSent: 2, replyFramesReceived: 2, lostEgress: 0, untaggedAtCaller: 0 });
    // The times crossed as they were: ingress through latency 1 ms each, the first frame out 5 ms.
    expect(ledger.ingress.summary().max).toBeCloseTo(1, 1);
    expect(ledger.egressFirstFrame.summary().max).toBeCloseTo(5, 1);
  });

  it('would count that frame as unknown without the catch-up (the control)', () => {
    const ledger = new FrameLedger({ calls: 2, maxFrames: 100, lateIngressMs: 60 });
    const { port1, port2 } = new MessageChannel();
    const poster = new LedgerPoster(port2);
    open.push(port1, port2);
    poster.providerSent('resp_1', undefined, [{ call: 0, seq: 0 }], 40);
    expect(ledger.callerReceived({ call: 0, seq: 0 }, 45)).toBeUndefined();
    expect(ledger.tally([0, 0]).untaggedAtCaller).toBe(1);
  });

  it('delivers batched appends on its own within a few milliseconds, untagged ones too', async () => {
    const { ledger, poster } = link();
    ledger.sent(0, 3, 100);
    poster.providerReceived({ call: 0, seq: 3 }, 120);
    poster.providerReceived(undefined, 121);
    // Delivered by the event loop, with no catch-up asked for (sessionsUp reads without one).
    await vi.waitFor(() => expect(ledger.sessionsUp()).toBe(1), { timeout: 2000, interval: 5 });
    expect(ledger.tally([4, 0])).toMatchObject({ atProvider: 1, untaggedAtProvider: 1, lostIngress: 0, lostIngressConnecting: 3 });
  });

  it('keeps an interruption after the reply it names', () => {
    const { ledger, poster } = link();
    poster.providerSent('resp_2', 'item_2', [{ call: 0, seq: 5 }, { call: 0, seq: 6 }], 10);
    poster.providerInterrupted({ itemId: 'item_2' });
    const t = ledger.tally([0, 0]); // the tally catches up first
    expect(t).toMatchObject({ responses: 1, responsesInterrupted: 1, droppedByInterruption: 2, lostEgress: 0 });
  });

  it("counts a caller's clear against a reply whose record is still queued", () => {
    const { ledger, poster } = link();
    poster.providerSent('resp_3', undefined, [{ call: 1, seq: 8 }, { call: 1, seq: 9 }], 10);
    expect(ledger.callerReceived({ call: 1, seq: 8 }, 12)).toEqual({ response: 0, index: 0 });
    poster.providerSent('resp_4', undefined, [{ call: 1, seq: 10 }], 14);
    ledger.callerCleared(1, 15); // resp_4 only reaches the ledger through the clear's catch-up
    const t = ledger.tally([0, 0]);
    expect(t).toMatchObject({ responses: 2, responsesInterrupted: 2, droppedByInterruption: 2, lostEgress: 0 });
  });
});
