/**
 * Watches a loopback OpenAI Realtime fake (test/fakes/openai-realtime-fake.ts) from inside the thread
 * it runs in (bench/fake-openai-thread.ts), on the callers' clock (`now`): every `input_audio_buffer.append` it gets
 * (by the frame tag in the audio), every reply delta it sends, every cancel and truncate. It uses only
 * the fake's public surface: new connections are caught as they are added to `connections`, their
 * recorded-message lists are replaced by the probe (a load run would otherwise keep every message of
 * every call in memory), and their `send` is wrapped to time the deltas.
 *
 * The fake is a test tool and is not shipped: this probe is part of the repository's bench extension
 * (bench/extension.ts), never of dist.
 */
import { FRAME_BYTES } from '../src/bench/caller-audio.js';
import { readTag, readTagBase64, type FrameTag } from '../src/bench/frame-tag.js';
import type { FrameLedger } from '../src/bench/ledger.js';

/** Base64 characters of one 20 ms mu-law frame (160 bytes). */
const FRAME_BASE64_CHARS = Math.ceil(FRAME_BYTES / 3) * 4;

/** The provider's side of the ledger: the FrameLedger itself, or what forwards to it from another thread. */
export type ProviderLedger = Pick<FrameLedger, 'providerReceived' | 'providerSent' | 'providerDone' | 'providerInterrupted'>;

type Message = { readonly type: string; readonly [key: string]: unknown };

/** The parts of a FakeConnection the probe touches. */
export interface FakeConnectionLike {
  readonly messages: Message[];
  readonly appended: Buffer[];
  send: (event: Record<string, unknown>) => void;
}

/** The parts of OpenAIRealtimeFake the probe touches. */
export interface RealtimeFakeLike {
  readonly connections: FakeConnectionLike[];
  readonly messages: Message[];
  readonly sent: Record<string, unknown>[];
}

const forget = (): number => 0;

export function probeRealtimeFake(fake: RealtimeFakeLike, ledger: ProviderLedger, now: () => number): void {
  fake.messages.push = forget;
  fake.sent.push = forget;
  const add = fake.connections.push.bind(fake.connections);
  fake.connections.push = (...conns: FakeConnectionLike[]) => {
    for (const c of conns) watch(c, ledger, now);
    return add(...conns);
  };
}

function watch(conn: FakeConnectionLike, ledger: ProviderLedger, now: () => number): void {
  conn.appended.push = forget;
  conn.messages.push = (...msgs: Message[]) => {
    for (const m of msgs) onClientMessage(m, ledger, now);
    return 0;
  };
  const send = conn.send;
  conn.send = (event) => {
    if (event.type === 'response.output_audio.delta') onDelta(event, ledger, now());
    else if (event.type === 'response.done') {
      const id = (event.response as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string') ledger.providerDone(id);
    }
    send(event);
  };
}

function onClientMessage(m: Message, ledger: ProviderLedger, now: () => number): void {
  switch (m.type) {
    case 'input_audio_buffer.append': {
      const at = now();
      if (typeof m.audio !== 'string' || m.audio.length <= FRAME_BASE64_CHARS) {
        ledger.providerReceived(typeof m.audio === 'string' ? readTagBase64(m.audio) : undefined, at);
        return;
      }
      // Several frames in one message (the gateway's PROVIDER_AUDIO_CHUNK_MS): each frame's tag.
      const bytes = Buffer.from(m.audio, 'base64');
      for (let offset = 0; offset < bytes.length; offset += FRAME_BYTES) ledger.providerReceived(readTag(bytes, offset), at);
      return;
    }
    case 'response.cancel':
      if (typeof m.response_id === 'string') ledger.providerInterrupted({ responseId: m.response_id });
      return;
    case 'conversation.item.truncate':
      if (typeof m.item_id === 'string') ledger.providerInterrupted({ itemId: m.item_id });
      return;
  }
}

function onDelta(event: Record<string, unknown>, ledger: ProviderLedger, at: number): void {
  if (typeof event.delta !== 'string' || typeof event.response_id !== 'string') return;
  const bytes = Buffer.from(event.delta, 'base64');
  const tags: (FrameTag | undefined)[] = [];
  for (let offset = 0; offset + FRAME_BYTES <= bytes.length; offset += FRAME_BYTES) tags.push(readTag(bytes, offset));
  ledger.providerSent(event.response_id, typeof event.item_id === 'string' ? event.item_id : undefined, tags, at);
}
