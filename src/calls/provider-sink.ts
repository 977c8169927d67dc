/**
 * Where the ingress graph ends: hands frames to the provider session, holding them in order (with
 * turn-end markers in the same queue) while no session is attached, so audio that arrives during a
 * connect is delivered, not lost. Bounded: past the limit the oldest audio is dropped and counted.
 */
import type { AudioFrame, EncodedFrame } from '../pipeline/frame.js';
import type { ProviderSession, TurnInfo } from '../providers/types.js';

type Held = { kind: 'audio'; frame: AudioFrame | EncodedFrame } | { kind: 'turnEnd'; turn: TurnInfo };

export class ProviderSink {
  #session: ProviderSession | undefined;
  #held: Held[] = [];
  #heldAudio = 0;
  readonly #limit: number;
  readonly #onDrop: (n: number) => void;
  #framesDelivered = 0;

  constructor(opts: { maxHeldFrames: number; onDrop: (n: number) => void }) {
    this.#limit = opts.maxHeldFrames;
    this.#onDrop = opts.onDrop;
  }

  get session(): ProviderSession | undefined {
    return this.#session;
  }

  get framesDelivered(): number {
    return this.#framesDelivered;
  }

  get heldFrames(): number {
    return this.#heldAudio;
  }

  write(frame: AudioFrame | EncodedFrame): void {
    if (this.#session) {
      this.#session.pushAudio(frame);
      this.#framesDelivered++;
      return;
    }
    this.#held.push({ kind: 'audio', frame });
    this.#heldAudio++;
    if (this.#heldAudio > this.#limit) {
      const i = this.#held.findIndex((h) => h.kind === 'audio');
      this.#held.splice(i, 1);
      this.#heldAudio--;
      this.#onDrop(1);
    }
  }

  endTurn(turn: TurnInfo): void {
    if (this.#session) this.#session.endTurn(turn);
    else this.#held.push({ kind: 'turnEnd', turn });
  }

  /** Attach a session and drain everything held into it, in order. */
  attach(session: ProviderSession): void {
    const held = this.#held;
    this.#held = [];
    this.#heldAudio = 0;
    for (const h of held) {
      if (h.kind === 'audio') {
        session.pushAudio(h.frame);
        this.#framesDelivered++;
      } else session.endTurn(h.turn);
    }
    this.#session = session;
  }

  detach(): ProviderSession | undefined {
    const s = this.#session;
    this.#session = undefined;
    return s;
  }
}
