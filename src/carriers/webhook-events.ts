/**
 * Webhook event ids seen recently. Telnyx "retries webhook delivery if your application does not
 * respond within a certain time threshold", so "you may encounter ... duplicate webhooks"
 * (https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks); each event
 * carries its id in `data.id`. An event is acted on once: a retry while the first is still being handled, or after it was
 * handled, is acknowledged (2xx) and nothing more. An event whose handling failed is forgotten, so
 * the carrier's retry runs it again (its commands carry fixed command ids: that is safe).
 */
export type EventState = 'new' | 'in_flight' | 'done';

export class WebhookEvents {
  readonly #seen = new Map<string, { state: 'in_flight' | 'done'; at: number }>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 15 * 60_000;
    this.#max = opts.max ?? 20_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Claims an event id: 'new' the first time (now in flight), else what became of it. */
  claim(id: string): EventState {
    this.#prune();
    const known = this.#seen.get(id);
    if (known) return known.state;
    this.#seen.set(id, { state: 'in_flight', at: this.#now() });
    return 'new';
  }

  done(id: string): void {
    this.#seen.set(id, { state: 'done', at: this.#now() });
  }

  /** Handling failed: let a retry run it again. */
  forget(id: string): void {
    this.#seen.delete(id);
  }

  #prune(): void {
    const oldest = this.#now() - this.#ttlMs;
    for (const [id, e] of this.#seen) {
      if (e.at >= oldest && this.#seen.size <= this.#max) break; // insertion order: the rest are newer
      this.#seen.delete(id);
    }
  }
}
