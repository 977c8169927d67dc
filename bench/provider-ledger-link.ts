/**
 * The provider fake's side of the frame ledger (src/bench/ledger.ts), carried from the fake's own
 * thread (bench/fake-openai-thread.ts) to the ledger on the load generator's thread over a
 * MessagePort. The fake used to run on the callers' event loop, where its TLS socket, its JSON and its
 * replies for every call made the load generator itself the bottleneck it was meant to measure.
 *
 * Order is what matters: a reply frame can only be matched once the ledger knows which response the
 * fake sent it in. The poster posts a delta's record before the delta goes out on the socket, so by
 * the time the gateway has forwarded that frame to a caller the record is in the port's queue; the
 * ledger, finding a tagged frame it does not know (or a `clear`, or the tally), calls `catchUp()`,
 * which reads the queue synchronously (`receiveMessageOnPort`) instead of waiting for the event loop.
 * Appends, about 50 a second per call, wait up to a few milliseconds to share a message; any other
 * record goes at once, with the appends before it in the same message, so the order holds.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { FrameTag } from '../src/bench/frame-tag.js';
import type { FrameLedger } from '../src/bench/ledger.js';
import type { ProviderLedger } from './realtime-fake-probe.js';

type LinkEvent =
  | { readonly k: 'sent'; readonly key: string; readonly itemId: string | undefined; readonly tags: number[]; readonly at: number }
  | { readonly k: 'done'; readonly key: string }
  | { readonly k: 'interrupted'; readonly responseId: string | undefined; readonly itemId: string | undefined };

/** Appends first ([call, seq, at] each, call −1 for an untagged frame), then the records after them. */
interface LinkMessage {
  readonly rows: Float64Array;
  readonly n: number;
  readonly events: LinkEvent[];
}

/**
 * A clock the threads share, in ms: `performance.now()` has a time origin per thread, `process.hrtime`
 * does not. A thread maps it to the callers' clock with the offset the parent measured.
 */
export const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Appends kept before a flush. */
const ROWS = 512;
const FLUSH_MS = 5;

/** In the fake's thread: records go to the port, in the order they happened. */
export class LedgerPoster implements ProviderLedger {
  readonly #port: MessagePort;
  #rows = new Float64Array(ROWS * 3);
  #n = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  providerReceived(tag: FrameTag | undefined, at: number): void {
    const i = this.#n * 3;
    this.#rows[i] = tag ? tag.call : -1;
    this.#rows[i + 1] = tag ? tag.seq : 0;
    this.#rows[i + 2] = at;
    if (++this.#n === ROWS) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  providerSent(key: string, itemId: string | undefined, tags: readonly (FrameTag | undefined)[], at: number): void {
    const packed: number[] = [];
    for (const tag of tags) packed.push(tag ? tag.call : -1, tag ? tag.seq : 0);
    this.flush({ k: 'sent', key, itemId, tags: packed, at });
  }

  providerDone(key: string): void {
    this.flush({ k: 'done', key });
  }

  providerInterrupted(key: { responseId?: string; itemId?: string }): void {
    this.flush({ k: 'interrupted', responseId: key.responseId, itemId: key.itemId });
  }

  /** Post the appends kept so far, and `event` after them. */
  flush(event?: LinkEvent): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#n === 0 && !event) return;
    const rows = this.#rows;
    const message: LinkMessage = { rows, n: this.#n, events: event ? [event] : [] };
    this.#port.postMessage(message, [rows.buffer]);
    this.#rows = new Float64Array(ROWS * 3);
    this.#n = 0;
  }
}

/** On the ledger's thread: applies what the poster sent, as it arrives or when the ledger asks. */
export class LedgerReceiver {
  readonly #port: MessagePort;
  readonly #ledger: FrameLedger;

  constructor(port: MessagePort, ledger: FrameLedger) {
    this.#port = port;
    this.#ledger = ledger;
  }

  /** Apply records as the event loop delivers them, and whenever the ledger meets one it lacks. */
  listen(): void {
    this.#port.on('message', (m: LinkMessage) => this.#apply(m));
    this.#ledger.setCatchUp(() => this.catchUp());
  }

  /** Apply every record already posted, now. */
  catchUp(): void {
    for (let m = receiveMessageOnPort(this.#port); m !== undefined; m = receiveMessageOnPort(this.#port)) this.#apply(m.message as LinkMessage);
  }

  close(): void {
    this.catchUp();
    this.#ledger.setCatchUp(undefined);
    this.#port.close();
  }

  #apply(m: LinkMessage): void {
    const ledger = this.#ledger;
    for (let i = 0; i < m.n * 3; i += 3) {
      const call = m.rows[i];
      ledger.providerReceived(call < 0 ? undefined : { call, seq: m.rows[i + 1] }, m.rows[i + 2]);
    }
    for (const e of m.events) {
      switch (e.k) {
        case 'sent': {
          const tags: (FrameTag | undefined)[] = [];
          for (let i = 0; i < e.tags.length; i += 2) tags.push(e.tags[i] < 0 ? undefined : { call: e.tags[i], seq: e.tags[i + 1] });
          ledger.providerSent(e.key, e.itemId, tags, e.at);
          break;
        }
        case 'done':
          ledger.providerDone(e.key);
          break;
        case 'interrupted':
          ledger.providerInterrupted({ responseId: e.responseId, itemId: e.itemId });
          break;
      }
    }
  }
}
