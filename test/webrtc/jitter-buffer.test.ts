/** The inbound reorder/loss buffer, on plain arrays of packets: no sockets, no codec. */
import { describe, expect, it } from 'vitest';
import { JitterBuffer, type JitterItem, type RtpIn } from '../../src/transports/webrtc/jitter-buffer.js';

const FRAME = 960;

/** Packet n of a 20 ms stream: payload byte 0 = n, so order is visible in the output. */
function pkt(n: number, seq0 = 1000, ts0 = 50_000): RtpIn {
  return { seq: (seq0 + n) & 0xffff, timestamp: (ts0 + n * FRAME) >>> 0, payload: Uint8Array.of(n & 0xff) };
}

function run(jb: JitterBuffer, packets: RtpIn[]): JitterItem[] {
  const out: JitterItem[] = [];
  for (const p of packets) out.push(...jb.push(p));
  return out;
}

/** 'p<n>' for a packet, 'L<packets>/<samples>' for a concealed loss. */
function describeItems(items: JitterItem[]): string[] {
  return items.map((i) => (i.kind === 'packet' ? `p${String(i.payload[0])}` : `L${String(i.packets)}/${String(i.samples)}`));
}

const make = (waitPackets = 3) => new JitterBuffer({ samplesOf: () => FRAME, waitPackets });

describe('JitterBuffer', () => {
  it.each([
    ['in order: passes through with no delay', [0, 1, 2, 3, 4], ['p0', 'p1', 'p2', 'p3', 'p4']],
    ['one swap: held one packet, released in order', [0, 2, 1, 3], ['p0', 'p1', 'p2', 'p3']],
    ['a lost packet: concealed once three newer ones wait', [0, 1, 3, 4, 5, 6], ['p0', 'p1', 'L1/960', 'p3', 'p4', 'p5', 'p6']],
    ['a burst of two lost', [0, 3, 4, 5, 6], ['p0', 'L2/1920', 'p3', 'p4', 'p5', 'p6']],
    ['late after give-up: dropped', [0, 2, 3, 4, 1, 5], ['p0', 'L1/960', 'p2', 'p3', 'p4', 'p5']],
    ['duplicate: dropped', [0, 1, 1, 2], ['p0', 'p1', 'p2']],
    ['reversed triple within the wait', [0, 3, 2, 1, 4], ['p0', 'p1', 'p2', 'p3', 'p4']],
  ])('%s', (_name, order, expected) => {
    const jb = make();
    expect(describeItems(run(jb, order.map((n) => pkt(n))))).toEqual(expected);
  });

  it('counts what happened', () => {
    const jb = make();
    // 2 twice while held (duplicate), 1 fills the gap (reordered), 3 is given up and comes too late.
    run(jb, [0, 2, 2, 1, 4, 5, 6, 7, 3].map((n) => pkt(n)));
    expect(jb.stats()).toMatchObject({ received: 9, released: 7, lost: 1, concealedSamples: 960, late: 1, duplicates: 1, reordered: 1, depth: 0, maxDepth: 3 });
  });

  it('follows the sequence number across the 16-bit wrap', () => {
    const jb = make();
    const packets = [0, 1, 2, 4, 3, 5, 6].map((n) => pkt(n, 0xfffd));
    expect(describeItems(run(jb, packets))).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(jb.stats().late).toBe(0);
  });

  it('sizes a loss from RTP timestamps, also across the 32-bit wrap, when packets vary in length', () => {
    // Packets of 40 ms after a 20 ms one: the missing one is 40 ms, not one "frame".
    const jb = new JitterBuffer({ samplesOf: (p) => p[1] * 480, waitPackets: 1 });
    const ts0 = 0xffff_ffff - 1000;
    const at = (seq: number, ts: number, tenths: number): RtpIn => ({ seq, timestamp: ts >>> 0, payload: Uint8Array.of(seq, tenths) });
    const out = run(jb, [at(1, ts0, 2), at(3, ts0 + 960 + 1920, 4)]);
    expect(describeItems(out)).toEqual(['p1', 'L1/1920', 'p3']);
  });

  it('resynchronises on a jump too large to be loss once the next packet confirms it (RFC 3550 A.1)', () => {
    const jb = make(1);
    const out = run(jb, [pkt(0), pkt(1), pkt(5000), pkt(5001), pkt(5002)]);
    // 5000 alone could be a stray packet: dropped; 5001 follows it, so the sender restarted there.
    expect(describeItems(out)).toEqual(['p0', 'p1', `p${String(5001 & 0xff)}`, `p${String(5002 & 0xff)}`]);
    expect(jb.stats()).toMatchObject({ resyncs: 1, lost: 0, late: 1 });
  });

  it.each([
    ['drops a single very late packet instead of taking it for a restart and replaying old audio', [100, 200, 201], ['p199', 'p200', 'p201'], { resyncs: 0, late: 1, released: 202 }],
    ['takes a restart far behind once two packets in a row say so', [10, 11, 12], ['p199', 'p11', 'p12'], { resyncs: 1, late: 1 }],
  ])('%s', (_name, tail, lastThree, stats) => {
    const jb = make(1);
    const packets = Array.from({ length: 200 }, (_, n) => pkt(n));
    const out = run(jb, [...packets, ...tail.map((n) => pkt(n))]);
    expect(describeItems(out).slice(-3)).toEqual(lastThree);
    expect(jb.stats()).toMatchObject(stats);
  });

  it('does not conceal a gap longer than the cap (a sender pause), but hands the audio on', () => {
    const jb = new JitterBuffer({ samplesOf: () => FRAME, waitPackets: 1, maxConcealSamples: 4800 });
    const out = run(jb, [pkt(0), { ...pkt(2), timestamp: pkt(0).timestamp + 48_000 }]);
    expect(describeItems(out)).toEqual(['p0', 'p2']);
    expect(jb.stats()).toMatchObject({ lost: 1, concealedSamples: 0, resyncs: 1 });
  });

  it('flush releases what a gap still holds, concealing the gap', () => {
    const jb = make();
    expect(describeItems(run(jb, [0, 2, 3].map((n) => pkt(n))))).toEqual(['p0']);
    expect(describeItems(jb.flush())).toEqual(['L1/960', 'p2', 'p3']);
    expect(jb.flush()).toEqual([]);
  });

  it('never holds more than the ring: a huge reorder window is bounded', () => {
    const jb = make(200);
    jb.push(pkt(0));
    for (let n = 2; n < 100; n++) jb.push(pkt(n)); // packet 1 never comes
    expect(jb.stats().maxDepth).toBeLessThanOrEqual(64);
    expect(jb.stats()).toMatchObject({ lost: 1, released: 99, depth: 0 });
  });
});
