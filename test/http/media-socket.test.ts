/**
 * The media socket's parser and state machine (src/http/media-socket.ts handleMediaSocket) at its
 * seam: carrier messages in through a stand-in socket, what reaches the call, what is rejected
 * (counted by reason) and when the socket is closed. No server, no real time; the protocols, stream
 * tokens and metrics are the real ones, the call and the socket are recorders. The messages are the
 * simulator's (src/carriers/<name>/network-messages.ts), shaped as the carriers document them.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CallManager } from '../../src/calls/call-manager.js';
import type { CallTransport } from '../../src/calls/call.js';
import { CLOSE_DRAINING, CLOSE_POLICY, CLOSE_UNSUPPORTED, handleMediaSocket, type MediaSocketContext } from '../../src/http/media-socket.js';
import { StreamTokens } from '../../src/http/security/stream-tokens.js';
import type { GrantStore } from '../../src/store/grant-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { telnyxMessages } from '../../src/carriers/telnyx/network-messages.js';
import { TelnyxProtocol } from '../../src/carriers/telnyx/protocol.js';
import { TwilioProtocol } from '../../src/carriers/twilio/protocol.js';

/** The parts of a ws WebSocket handleMediaSocket uses. */
class FakeSocket extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: string[] = [];
  closed: { code: number; reason: string } | undefined;
  send(text: string): void {
    this.sent.push(text);
  }
  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
    this.readyState = 3;
  }
  text(message: string): void {
    this.emit('message', Buffer.from(message), false);
  }
}

class RecordingCall {
  readonly id = 'call-under-test';
  readonly media: number[][] = [];
  readonly marks: string[] = [];
  readonly digits: string[] = [];
  readonly ended: string[] = [];
  handleMedia(payload: Uint8Array): void {
    this.media.push([...payload.subarray(0, 1)]);
  }
  handleMark(name: string): void {
    this.marks.push(name);
  }
  handleDtmf(digit: string): void {
    this.digits.push(digit);
  }
  async end(reason: string): Promise<void> {
    this.ended.push(reason);
  }
}

const frame = (first: number, bytes = 160) => {
  const b = Buffer.alloc(bytes, 0xff);
  b[0] = first;
  return b.toString('base64');
};

function setup(kind: 'twilio' | 'telnyx', over: Partial<MediaSocketContext> = {}, limits = { maxMessageBytes: 4096, maxMessagesPerSecond: 100 }) {
  const metrics = createMetrics();
  const logLines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (chunk, _e, cb) => (logLines.push(String(chunk)), cb()) }) });
  const tokens = new StreamTokens({ ttlMs: 60_000 });
  const call = new RecordingCall();
  const created: { carrierCallId: string; transport: CallTransport }[] = [];
  const calls = {
    draining: false,
    create(args: { carrierCallId: string; transport: CallTransport }) {
      created.push(args);
      return call;
    },
  };
  const socket = new FakeSocket();
  const ctx: MediaSocketContext = {
    protocol: kind === 'twilio' ? new TwilioProtocol() : new TelnyxProtocol(),
    calls: calls as unknown as CallManager,
    tokens,
    metrics,
    logger,
    correlationId: 'req-1',
    limits,
    ...over,
  };
  handleMediaSocket(socket as unknown as WebSocket, ctx);
  const rejected = async (reason?: string) => {
    const data = await metrics.registry.getSingleMetric('voice_gateway_media_rejected_total')!.get();
    return data.values.filter((v) => reason === undefined || v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  };
  const msgs = kind === 'twilio' ? twilioMessages('MZ1') : telnyxMessages('stream-1');
  return { socket, call, created, calls, tokens, metrics, rejected, msgs, logLines };
}

/** A started Twilio stream: connected, then start with a valid token. */
function started(kind: 'twilio' | 'telnyx' = 'twilio', over: Partial<MediaSocketContext> = {}) {
  const t = setup(kind, over);
  const token = t.tokens.issue('CA1', { transport: kind });
  t.socket.text(t.msgs.connected());
  t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }));
  expect(t.created).toHaveLength(1);
  return t;
}

afterEach(() => vi.useRealTimers());

describe('media socket: bad input is rejected, counted, and the stream goes on', () => {
  it('malformed JSON, an unknown event, bad base64 and a binary frame, each with its reason; the call is unaffected', async () => {
    const t = started();
    t.socket.text('{"event":"media",');
    t.socket.text('[1,2]');
    t.socket.text(JSON.stringify({ event: 'surprise' }));
    t.socket.text(t.msgs.media('not base64!!', 20, 1));
    t.socket.emit('message', Buffer.from([1, 2, 3]), true);
    expect(await t.rejected('GW_ERR_TRANSPORT_BAD_JSON')).toBe(2);
    expect(await t.rejected('GW_ERR_TRANSPORT_UNKNOWN_EVENT')).toBe(1);
    expect(await t.rejected('GW_ERR_TRANSPORT_BAD_BASE64')).toBe(1);
    expect(await t.rejected('GW_ERR_TRANSPORT_BAD_MESSAGE')).toBe(1);
    expect(t.call.media).toEqual([]);
    // The next good frame goes through: nothing was broken by what came before.
    t.socket.text(t.msgs.media(frame(7), 40, 2));
    expect(t.call.media).toEqual([[7]]);
    expect(t.socket.closed).toBeUndefined();
    expect(t.logLines.join('')).toContain('"event":"media_rejected"');
  });

  it('an oversized message is refused before it is parsed', async () => {
    const t = setup('twilio', {}, { maxMessageBytes: 300, maxMessagesPerSecond: 100 });
    t.socket.text(t.msgs.media(frame(1, 400), 20, 1));
    expect(await t.rejected('GW_ERR_TRANSPORT_FRAME_TOO_LARGE')).toBe(1);
    // Not parsed: an oversized media message before start is not also an out-of-order one.
    expect(await t.rejected()).toBe(1);
    expect(t.socket.closed).toBeUndefined();
  });

  it('past the message rate it refuses each message, and closes the socket on a sustained flood', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t = setup('twilio', {}, { maxMessageBytes: 4096, maxMessagesPerSecond: 10 });
    for (let i = 0; i < 10; i++) t.socket.text(t.msgs.connected());
    expect(await t.rejected()).toBe(0);
    t.socket.text(t.msgs.connected());
    expect(await t.rejected('GW_ERR_TRANSPORT_RATE_LIMITED')).toBe(1);
    expect(t.socket.closed).toBeUndefined();
    for (let i = 0; i < 30; i++) t.socket.text(t.msgs.connected());
    expect(t.socket.closed?.code).toBe(CLOSE_POLICY);
    // A new second opens a new window.
    vi.setSystemTime(Date.now() + 1000);
    const t2 = setup('twilio', {}, { maxMessageBytes: 4096, maxMessagesPerSecond: 10 });
    for (let i = 0; i < 10; i++) t2.socket.text(t2.msgs.connected());
    vi.setSystemTime(Date.now() + 1000);
    for (let i = 0; i < 10; i++) t2.socket.text(t2.msgs.connected());
    expect(await t2.rejected()).toBe(0);
  });
});

describe('media socket: the protocol state machine', () => {
  it('media, mark, dtmf and stop before start are out of order: refused, no call made', async () => {
    const t = setup('twilio');
    t.socket.text(t.msgs.media(frame(1), 20, 1));
    t.socket.text(t.msgs.mark('m1'));
    t.socket.text(t.msgs.dtmf('5'));
    t.socket.text(t.msgs.stop('CA1'));
    expect(await t.rejected('GW_ERR_TRANSPORT_OUT_OF_ORDER')).toBe(4);
    expect(t.created).toEqual([]);
    expect(t.socket.closed).toBeUndefined();
  });

  it('a start without a connected first still starts the call (connected carries nothing we need)', () => {
    const t = setup('twilio');
    const token = t.tokens.issue('CA1', { transport: 'twilio' });
    t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }));
    expect(t.created.map((c) => c.carrierCallId)).toEqual(['CA1']);
    t.socket.text(t.msgs.media(frame(3), 20, 1));
    expect(t.call.media).toEqual([[3]]);
  });

  it('after start: media, marks and digits reach the call; a second start is refused and changes nothing', async () => {
    const t = started();
    t.socket.text(t.msgs.media(frame(1), 20, 1));
    t.socket.text(t.msgs.mark('reply-1'));
    t.socket.text(t.msgs.dtmf('#'));
    const again = t.tokens.issue('CA2', { transport: 'twilio' });
    t.socket.text(t.msgs.start({ carrierCallId: 'CA2', streamId: 'MZ2', codec: 'mulaw', customParameters: { token: again } }));
    expect(await t.rejected('GW_ERR_TRANSPORT_OUT_OF_ORDER')).toBe(1);
    expect(t.created).toHaveLength(1);
    expect(t.call).toMatchObject({ media: [[1]], marks: ['reply-1'], digits: ['#'] });
  });

  it('puts frames back in chunk order, and stop flushes the frames held for a gap before ending the call', () => {
    const t = started();
    t.socket.text(t.msgs.media(frame(1), 20, 1));
    t.socket.text(t.msgs.media(frame(3), 60, 3)); // 2 is missing: 3 waits for it
    expect(t.call.media).toEqual([[1]]);
    t.socket.text(t.msgs.media(frame(2), 40, 2));
    expect(t.call.media).toEqual([[1], [2], [3]]);
    t.socket.text(t.msgs.media(frame(5), 100, 5)); // 4 never comes
    t.socket.text(t.msgs.stop('CA1'));
    expect(t.call.media).toEqual([[1], [2], [3], [5]]);
    expect(t.call.ended).toEqual(['caller_hangup']);
  });

  it('the socket closing ends the call', () => {
    const t = started();
    t.socket.emit('close');
    expect(t.call.ended).toEqual(['socket_closed']);
  });
});

describe('media socket: start is refused without a valid grant, a codec we cannot decode, or while draining', () => {
  it('no token, or a token spent already, closes with 1008 and makes no call', async () => {
    const t = setup('twilio');
    t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: {} }));
    expect(t.socket.closed?.code).toBe(CLOSE_POLICY);
    const u = setup('twilio');
    const token = u.tokens.issue('CA1', { transport: 'twilio' });
    expect(u.tokens.redeem(token, 'CA1', 'twilio')).toBeDefined();
    u.socket.text(u.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }));
    expect(u.socket.closed?.code).toBe(CLOSE_POLICY);
    expect([...t.created, ...u.created]).toEqual([]);
    expect(await t.rejected('GW_ERR_TRANSPORT_BAD_TOKEN')).toBe(1);
  });

  it('a Telnyx grant taken at the upgrade fits only its own call', () => {
    const t = setup('telnyx', { claimed: { carrierCallId: 'v3:other', info: { transport: 'telnyx' } } });
    t.socket.text(t.msgs.start({ carrierCallId: 'v3:mine', streamId: 's', codec: 'mulaw', customParameters: {} }));
    expect(t.socket.closed?.code).toBe(CLOSE_POLICY);
    const ok = setup('telnyx', { claimed: { carrierCallId: 'v3:mine', info: { transport: 'telnyx' } } });
    ok.socket.text(ok.msgs.start({ carrierCallId: 'v3:mine', streamId: 's', codec: 'mulaw', customParameters: {} }));
    expect(ok.created.map((c) => c.carrierCallId)).toEqual(['v3:mine']);
  });

  it('a Twilio stream in a codec it does not document is refused with 1003', async () => {
    const t = setup('twilio');
    const token = t.tokens.issue('CA1', { transport: 'twilio' });
    t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }).replace('audio/x-mulaw', 'audio/x-alaw'));
    expect(t.socket.closed?.code).toBe(CLOSE_UNSUPPORTED);
    expect(await t.rejected('GW_ERR_AUDIO_UNSUPPORTED_CODEC')).toBe(1);
    expect(t.created).toEqual([]);
  });

  it('an L16 frame of odd length is refused before any decoder sees it', async () => {
    const t = setup('telnyx', { claimed: { carrierCallId: 'v3:l16', info: { transport: 'telnyx' } } });
    t.socket.text(t.msgs.start({ carrierCallId: 'v3:l16', streamId: 's', codec: 'l16', customParameters: {} }));
    expect(t.created).toHaveLength(1);
    t.socket.text(t.msgs.media(Buffer.alloc(161).toString('base64'), 20, 1));
    t.socket.text(t.msgs.media(Buffer.alloc(160).toString('base64'), 40, 2));
    expect(await t.rejected('GW_ERR_AUDIO_ODD_LENGTH')).toBe(1);
    expect(t.call.media).toHaveLength(1);
  });

  it('while the gateway drains, start closes with 1013', () => {
    const t = setup('twilio');
    (t.calls as { draining: boolean }).draining = true;
    const token = t.tokens.issue('CA1', { transport: 'twilio' });
    t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }));
    expect(t.socket.closed?.code).toBe(CLOSE_DRAINING);
    expect(t.created).toEqual([]);
  });
});

/** A shared grant store that answers `take` only when told to, as a slow Redis would. */
class SlowGrantStore implements GrantStore {
  readonly #values = new Map<string, string>();
  readonly #waiting: (() => void)[] = [];
  async put(token: string, value: string): Promise<void> {
    if (!this.#values.has(token)) this.#values.set(token, value);
  }
  take(token: string): Promise<string | undefined> {
    return new Promise((resolve) =>
      this.#waiting.push(() => {
        const v = this.#values.get(token);
        this.#values.delete(token);
        resolve(v);
      }),
    );
  }
  async peek(token: string): Promise<string | undefined> {
    return this.#values.get(token);
  }
  async revoke(token: string): Promise<void> {
    this.#values.delete(token);
  }
  async close(): Promise<void> {}
  answer(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}

describe('media socket: a start whose grant is in a shared store', () => {
  it('holds what follows until the store answers, then handles it in order', async () => {
    const store = new SlowGrantStore();
    const tokens = new StreamTokens({ ttlMs: 60_000, shared: store });
    const t = setup('twilio', { tokens });
    const token = tokens.issue('CA1', { transport: 'twilio' });
    await tokens.issued(token);
    t.socket.text(t.msgs.start({ carrierCallId: 'CA1', streamId: 'MZ1', codec: 'mulaw', customParameters: { token } }));
    t.socket.text(t.msgs.media(frame(1), 20, 1));
    t.socket.text(t.msgs.mark('m'));
    t.socket.text(t.msgs.media(frame(2), 40, 2));
    expect(t.created).toEqual([]);
    expect(await t.rejected()).toBe(0);
    store.answer();
    await vi.waitFor(() => expect(t.created).toHaveLength(1));
    expect(t.call.media).toEqual([[1], [2]]);
    expect(t.call.marks).toEqual(['m']);
  });
});

describe('media socket: the transport the call speaks through', () => {
  it('sends media, marks and clear as the carrier protocol frames them, and nothing once closed', () => {
    const t = started();
    const transport = t.created[0].transport;
    transport.sendMedia(new Uint8Array(160).fill(0xff));
    transport.sendMark('reply-1');
    transport.sendClear();
    const events = t.socket.sent.map((s) => (JSON.parse(s) as { event: string }).event);
    expect(events).toEqual(['media', 'mark', 'clear']);
    expect(JSON.parse(t.socket.sent[0])).toMatchObject({ streamSid: 'MZ1', media: { payload: Buffer.alloc(160, 0xff).toString('base64') } });
    transport.close(1000, 'done');
    transport.sendMark('late');
    expect(t.socket.sent).toHaveLength(3);
    expect(t.socket.closed).toEqual({ code: 1000, reason: 'done' });
  });
});
