/**
 * The hand-off between a carrier's REST API fake and the simulated caller, for calls the gateway
 * places: the fake `offer()`s each dial it accepted (the TwiML or stream URL it was asked to connect),
 * a simulated caller takes it and plays the network side; later commands on the call (hangup, DTMF)
 * are `push()`ed as events the caller polls. Served over plain HTTP long-polls so the CLI
 * (`voice-gateway call --outbound URL`) can take calls from a fake in another process:
 *
 *   GET /_sim/dials/next?waitMs=N               200 DialedCall, or 204 if none came in time
 *   GET /_sim/calls/:carrierCallId/events?after=K&waitMs=N   200 {events: NetworkEvent[]} (seq > K)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CarrierName } from '../carriers/carrier-name.js';

export interface DialedCall {
  readonly transport: CarrierName;
  /** The id the carrier's API answered with (Twilio CallSid, Telnyx call_control_id). */
  readonly carrierCallId: string;
  readonly from: string;
  readonly to: string;
  /** Twilio: the TwiML the dial carried (<Connect><Stream>). */
  readonly twiml?: string;
  /** Telnyx: stream_url; the codec the network streams to the app (stream_codec) ... */
  readonly streamUrl?: string;
  readonly codec?: string;
  /** ... and the one it expects back (stream_bidirectional_codec), which may differ. */
  readonly egressCodec?: string;
}

export type NetworkEvent = { seq: number; type: 'hangup' } | { seq: number; type: 'dtmf'; digits: string };
type NewEvent = { type: 'hangup' } | { type: 'dtmf'; digits: string };

const MAX_WAIT_MS = 30_000;

interface Waiter<T> {
  resolve(value: T | undefined): void;
  timer: NodeJS.Timeout;
}

export class NetworkDesk {
  readonly #dials: DialedCall[] = [];
  readonly #dialWaiters: Waiter<DialedCall>[] = [];
  readonly #events = new Map<string, NetworkEvent[]>();
  readonly #eventWaiters = new Map<string, Waiter<NetworkEvent[]>[]>();
  readonly #onTaken: ((dial: DialedCall) => void) | undefined;
  #seq = 0;

  /** `onTaken` runs when a simulated caller takes a dial: the call is "answered" then. */
  constructor(opts: { onTaken?: (dial: DialedCall) => void } = {}) {
    this.#onTaken = opts.onTaken;
  }

  offer(dial: DialedCall): void {
    const waiter = this.#dialWaiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.#onTaken?.(dial);
      waiter.resolve(dial);
    } else this.#dials.push(dial);
  }

  push(carrierCallId: string, event: NewEvent): void {
    const list = this.#events.get(carrierCallId) ?? [];
    list.push({ ...event, seq: ++this.#seq });
    this.#events.set(carrierCallId, list);
    const waiters = this.#eventWaiters.get(carrierCallId) ?? [];
    this.#eventWaiters.delete(carrierCallId);
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.resolve(list);
    }
  }

  /** Take the next dial (waiting up to `waitMs`), as the HTTP route does. */
  nextDial(waitMs: number): Promise<DialedCall | undefined> {
    const ready = this.#dials.shift();
    if (ready) {
      this.#onTaken?.(ready);
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => {
      const waiter: Waiter<DialedCall> = {
        resolve,
        timer: setTimeout(() => {
          const i = this.#dialWaiters.indexOf(waiter);
          if (i >= 0) this.#dialWaiters.splice(i, 1);
          resolve(undefined);
        }, waitMs),
      };
      this.#dialWaiters.push(waiter);
    });
  }

  events(carrierCallId: string, after: number, waitMs: number): Promise<NetworkEvent[]> {
    const newer = (this.#events.get(carrierCallId) ?? []).filter((e) => e.seq > after);
    if (newer.length > 0 || waitMs <= 0) return Promise.resolve(newer);
    return new Promise((resolve) => {
      const list = this.#eventWaiters.get(carrierCallId) ?? [];
      const waiter: Waiter<NetworkEvent[]> = {
        resolve: (all) => resolve((all ?? []).filter((e) => e.seq > after)),
        timer: setTimeout(() => {
          const i = list.indexOf(waiter);
          if (i >= 0) list.splice(i, 1);
          resolve([]);
        }, waitMs),
      };
      list.push(waiter);
      this.#eventWaiters.set(carrierCallId, list);
    });
  }

  /** Serve a /_sim/ request; false if the URL is not one of ours. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://desk');
    if (req.method !== 'GET' || !url.pathname.startsWith('/_sim/')) return false;
    const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, Number(url.searchParams.get('waitMs') ?? 0) || 0));
    // The client may give up on a long-poll; a late answer to a closed socket is harmless.
    if (url.pathname === '/_sim/dials/next') {
      void this.nextDial(waitMs).then((dial) => {
        if (!dial) res.writeHead(204).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(dial));
      });
      return true;
    }
    const m = /^\/_sim\/calls\/([^/]+)\/events$/.exec(url.pathname);
    if (m) {
      const after = Number(url.searchParams.get('after') ?? 0) || 0;
      void this.events(decodeURIComponent(m[1]), after, waitMs).then((events) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ events })),
      );
      return true;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no ${url.pathname}` }));
    return true;
  }

  /** Answer every waiting long-poll (empty) so a server can close. */
  close(): void {
    for (const w of this.#dialWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
    for (const list of this.#eventWaiters.values()) {
      for (const w of list) {
        clearTimeout(w.timer);
        w.resolve([]);
      }
    }
    this.#eventWaiters.clear();
  }
}
