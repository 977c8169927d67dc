/**
 * Frame accounting by tag (see frame-tag.ts), on the callers' clock (a provider fake in another
 * thread of the load generator records its side on it too, see setCatchUp): when each caller
 * frame was sent, when (and whether) the provider fake got it, which reply frames the fake sent for
 * which response, and whether the caller got them. Lost is then a set difference, not an estimate.
 *
 * Definitions (what the load generator can observe itself):
 * - ingress lost: a frame the caller sent that never reached the provider. Split by whether it was
 *   sent before the call's provider session was up (its first append reached the fake): the gateway
 *   holds and delivers those; a bridge that drops audio until the provider socket opens does not.
 * - egress lost: a reply frame the provider sent that the caller never got, unless its response was
 *   interrupted (the caller got a `clear` after the response started, or the bridge cancelled or
 *   truncated it at the provider): those frames are dropped on purpose and counted apart.
 * - ingress through-latency: provider arrival - caller send, for frames sent after the session was
 *   up and inside the measurement window. Egress through-latency: caller arrival of a response's
 *   first frame - the provider's send of its first delta. Both include two loopback hops and the load
 *   generator's own scheduling (its callers' loop and the fake's), for the gateway and the baseline alike.
 */
import { MsHistogram } from './stats.js';
import type { FrameTag } from './frame-tag.js';

interface CallBook {
  sendAt: Float64Array;
  /** Times the frame reached the provider (more than 1: a duplicate). */
  atProvider: Uint8Array;
  sessionUpAt: number;
  /** Reply frame (by the caller frame seq it echoes) -> response index + 1 (0: none). */
  replyResponse: Int32Array;
  replyIndex: Int32Array;
  replyArrived: Uint8Array;
  /** Responses still playing for the caller (the provider has not finished it, or its last frame has not arrived): what a `clear` interrupts. */
  open: number[];
}

interface ResponseBook {
  call: number;
  firstSentAt: number;
  frames: number;
  received: number;
  interrupted: boolean;
  /** The provider has sent its last delta. */
  done: boolean;
  /** The caller frame seq the response's last frame so far echoes. */
  lastSeq: number;
}

export interface LedgerTally {
  sent: number;
  atProvider: number;
  lostIngress: number;
  lostIngressConnecting: number;
  duplicateIngress: number;
  lateIngress: number;
  untaggedAtProvider: number;
  replyFramesSent: number;
  replyFramesExpected: number;
  replyFramesReceived: number;
  lostEgress: number;
  droppedByInterruption: number;
  responses: number;
  responsesInterrupted: number;
  untaggedAtCaller: number;
}

export class FrameLedger {
  readonly ingress = new MsHistogram();
  readonly egressFirstFrame = new MsHistogram();
  readonly #calls: CallBook[] = [];
  readonly #responses: ResponseBook[] = [];
  readonly #responseByKey = new Map<string, number>();
  readonly #responseByItem = new Map<string, number>();
  readonly #maxFrames: number;
  /** A frame later than this at the provider is counted late; set once the target's settings are known. */
  lateIngressMs: number;
  #window: [number, number] = [Infinity, Infinity];
  #lateIngress = 0;
  #untaggedAtProvider = 0;
  #untaggedAtCaller = 0;
  #catchUp: (() => void) | undefined;

  constructor(opts: { calls: number; maxFrames: number; lateIngressMs: number }) {
    this.#maxFrames = opts.maxFrames;
    this.lateIngressMs = opts.lateIngressMs;
    for (let i = 0; i < opts.calls; i++) {
      this.#calls.push({
        sendAt: new Float64Array(opts.maxFrames),
        atProvider: new Uint8Array(opts.maxFrames),
        sessionUpAt: Infinity,
        replyResponse: new Int32Array(opts.maxFrames),
        replyIndex: new Int32Array(opts.maxFrames),
        replyArrived: new Uint8Array(opts.maxFrames),
        open: [],
      });
    }
  }

  get maxFrames(): number {
    return this.#maxFrames;
  }

  /** Calls whose provider session is up (their first frame reached the provider). */
  sessionsUp(): number {
    let n = 0;
    for (const book of this.#calls) if (book.sessionUpAt !== Infinity) n++;
    return n;
  }

  /** Latency samples are taken for frames sent (responses started) inside [from, to). */
  setWindow(from: number, to: number): void {
    this.#window = [from, to];
  }

  #inWindow(t: number): boolean {
    return t >= this.#window[0] && t < this.#window[1];
  }

  // Caller side

  sent(call: number, seq: number, at: number): void {
    this.#calls[call].sendAt[seq] = at;
  }

  /**
   * When the provider's side is recorded on another thread, what applies its records already sent:
   * called when a caller frame names a reply not heard of yet (see bench/provider-ledger-link.ts).
   */
  setCatchUp(catchUp: (() => void) | undefined): void {
    this.#catchUp = catchUp;
  }

  /** A reply frame reached the caller; returns its index in its response, or -1 if untagged/unknown. */
  callerReceived(tag: FrameTag | undefined, at: number): { response: number; index: number } | undefined {
    const book = tag && tag.call < this.#calls.length && tag.seq < this.#maxFrames ? this.#calls[tag.call] : undefined;
    let r = book ? book.replyResponse[tag!.seq] - 1 : -1;
    if (book && r < 0 && this.#catchUp) {
      this.#catchUp();
      r = book.replyResponse[tag!.seq] - 1;
    }
    if (!book || r < 0) {
      this.#untaggedAtCaller++;
      return undefined;
    }
    const seq = tag!.seq;
    if (book.replyArrived[seq]++ > 0) return undefined; // a duplicate: counted once
    const resp = this.#responses[r];
    resp.received++;
    const index = book.replyIndex[seq];
    this.#settle(r);
    if (index === 0 && this.#inWindow(resp.firstSentAt)) this.egressFirstFrame.record(at - resp.firstSentAt);
    return { response: r, index };
  }

  /** The caller was told to drop what it has queued: every response still playing is interrupted. */
  callerCleared(call: number, at: number): void {
    this.#catchUp?.(); // a response the clear interrupts may still be on its way from the fake's thread
    const book = this.#calls[call];
    for (const r of book.open) if (this.#responses[r].firstSentAt <= at) this.#responses[r].interrupted = true;
  }

  /** A response stops being open once the provider finished it and its last frame reached the caller. */
  #settle(r: number): void {
    const resp = this.#responses[r];
    const book = this.#calls[resp.call];
    // The last frame, not every frame: a reply that lost a frame mid-way has still finished playing.
    if (!resp.done || book.replyArrived[resp.lastSeq] === 0) return;
    const open = book.open;
    const i = open.indexOf(r);
    if (i >= 0) open.splice(i, 1);
  }

  // Provider side

  providerReceived(tag: FrameTag | undefined, at: number): void {
    if (!tag || tag.call >= this.#calls.length || tag.seq >= this.#maxFrames) {
      this.#untaggedAtProvider++;
      return;
    }
    const book = this.#calls[tag.call];
    if (book.sessionUpAt === Infinity) book.sessionUpAt = at;
    if (book.atProvider[tag.seq]++ > 0) return;
    const sentAt = book.sendAt[tag.seq];
    if (sentAt === 0 || sentAt < book.sessionUpAt) return; // held while the provider connected: no sample
    const ms = at - sentAt;
    if (ms > this.lateIngressMs) this.#lateIngress++;
    if (this.#inWindow(sentAt)) this.ingress.record(ms);
  }

  /** The provider sent reply audio: its frames' tags, in order, for response `key`. */
  providerSent(key: string, itemId: string | undefined, tags: readonly (FrameTag | undefined)[], at: number): void {
    let r = this.#responseByKey.get(key);
    for (const tag of tags) {
      if (!tag || tag.call >= this.#calls.length || tag.seq >= this.#maxFrames) continue;
      const book = this.#calls[tag.call];
      if (r === undefined) {
        r = this.#responses.length;
        this.#responses.push({ call: tag.call, firstSentAt: at, frames: 0, received: 0, interrupted: false, done: false, lastSeq: tag.seq });
        this.#responseByKey.set(key, r);
        book.open.push(r);
      }
      const resp = this.#responses[r];
      book.replyResponse[tag.seq] = r + 1;
      book.replyIndex[tag.seq] = resp.frames++;
      resp.lastSeq = tag.seq;
    }
    if (r !== undefined && itemId !== undefined) this.#responseByItem.set(itemId, r);
  }

  /** The provider sent the response's last audio. */
  providerDone(key: string): void {
    const r = this.#responseByKey.get(key);
    if (r === undefined) return;
    this.#responses[r].done = true;
    this.#settle(r);
  }

  /** The bridge cancelled a response, or truncated its item, at the provider. */
  providerInterrupted(key: { responseId?: string; itemId?: string }): void {
    const r = key.responseId !== undefined ? this.#responseByKey.get(key.responseId) : key.itemId !== undefined ? this.#responseByItem.get(key.itemId) : undefined;
    if (r !== undefined) this.#responses[r].interrupted = true;
  }

  tally(framesSentPerCall: readonly number[]): LedgerTally {
    this.#catchUp?.();
    const t: LedgerTally = {
      sent: 0, atProvider: 0, lostIngress: 0, lostIngressConnecting: 0, duplicateIngress: 0, lateIngress: this.#lateIngress,
      untaggedAtProvider: this.#untaggedAtProvider, replyFramesSent: 0, replyFramesExpected: 0, replyFramesReceived: 0,
      lostEgress: 0, droppedByInterruption: 0, responses: this.#responses.length, responsesInterrupted: 0, untaggedAtCaller: this.#untaggedAtCaller,
    };
    this.#calls.forEach((book, call) => {
      const sent = framesSentPerCall[call] ?? 0;
      t.sent += sent;
      for (let seq = 0; seq < sent; seq++) {
        const n = book.atProvider[seq];
        if (n > 0) {
          t.atProvider++;
          t.duplicateIngress += n - 1;
        } else if (book.sendAt[seq] < book.sessionUpAt) t.lostIngressConnecting++;
        else t.lostIngress++;
      }
    });
    for (const resp of this.#responses) {
      t.replyFramesSent += resp.frames;
      t.replyFramesReceived += resp.received;
      if (resp.interrupted) {
        t.responsesInterrupted++;
        t.droppedByInterruption += resp.frames - resp.received;
      } else {
        t.replyFramesExpected += resp.frames;
        t.lostEgress += resp.frames - resp.received;
      }
    }
    return t;
  }
}
