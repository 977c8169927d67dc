/**
 * The simulated caller for calls the gateway places: take the next dial from a carrier REST fake's
 * network desk (see ./network-desk.ts), open the media stream that dial asked for, with the carrier's
 * call id, and play the network side; a hangup the gateway asks the carrier for ends the stream as the
 * carrier would (`stop`, then close), and digits the carrier was asked to play are reported.
 */
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import { simulateCall, type SimulatedCallOptions, type SimulatedCallResult } from './caller.js';
import type { DialedCall, NetworkEvent } from './network-desk.js';
import { parseStreamTarget, type StreamTarget } from './webhook.js';

export type { DialedCall, NetworkEvent };

export interface OutboundAnswerOptions extends Omit<SimulatedCallOptions, 'transport' | 'baseUrl' | 'audio' | 'codec' | 'stream' | 'carrierCallId'> {
  /** The REST fake's base URL (it serves /_sim/...). */
  readonly networkUrl: string;
  /** The callee's audio: PCM16 at 8 kHz, encoded in whatever codec the dial asked for. */
  readonly pcm: Int16Array;
  /** How long to wait for the gateway to place a call. */
  readonly waitMs?: number;
}

export interface OutboundAnswerResult extends SimulatedCallResult {
  dial: DialedCall;
  /** Commands the gateway gave the carrier during the call, as the network saw them. */
  carrierEvents: NetworkEvent[];
}

export async function nextDial(networkUrl: string, waitMs: number, signal?: AbortSignal): Promise<DialedCall> {
  const base = networkUrl.replace(/\/+$/, '');
  const until = Date.now() + waitMs;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) throw new Error(`no outbound call was placed within ${String(waitMs)} ms`);
    const res = await fetch(`${base}/_sim/dials/next?waitMs=${String(Math.min(left, 25_000))}`, { signal });
    if (res.status === 200) return (await res.json()) as DialedCall;
    await res.body?.cancel();
    if (res.status !== 204) throw new Error(`${base}/_sim/dials/next answered ${String(res.status)}`);
  }
}

/** Where the dial asked the network to stream: from Twilio's TwiML, or Telnyx's stream_url. */
export function streamTargetOf(dial: DialedCall): StreamTarget {
  if (dial.twiml) return parseStreamTarget(dial.twiml);
  if (dial.streamUrl) return { url: dial.streamUrl, parameters: {}, attributes: {}, egressCodec: telnyxCodec(dial.egressCodec ?? dial.codec) };
  throw new Error(`the ${dial.transport} dial for ${dial.carrierCallId} carries neither TwiML nor a stream URL`);
}

function telnyxCodec(name: string | undefined): 'mulaw' | 'alaw' | 'l16' {
  const c = (name ?? 'PCMU').toUpperCase();
  if (c === 'PCMU') return 'mulaw';
  if (c === 'PCMA') return 'alaw';
  if (c === 'L16') return 'l16';
  throw new Error(`the simulated callee speaks PCMU, PCMA and L16; the dial asked for ${c}`);
}

function codecOf(dial: DialedCall): 'mulaw' | 'alaw' {
  if (dial.transport === 'twilio') return 'mulaw';
  const c = telnyxCodec(dial.codec);
  if (c === 'l16') throw new Error('the simulated callee sends PCMU or PCMA (8 kHz G.711)');
  return c;
}

export async function answerOutboundCall(opts: OutboundAnswerOptions): Promise<OutboundAnswerResult> {
  const dial = await nextDial(opts.networkUrl, opts.waitMs ?? 30_000, opts.signal);
  const codec = codecOf(dial);
  const hangup = new AbortController();
  const onOuterAbort = () => hangup.abort();
  opts.signal?.addEventListener('abort', onOuterAbort);
  const carrierEvents: NetworkEvent[] = [];
  const stopPolling = new AbortController();
  const base = opts.networkUrl.replace(/\/+$/, '');

  const poll = (async () => {
    let after = 0;
    while (!stopPolling.signal.aborted) {
      let events: NetworkEvent[];
      try {
        const res = await fetch(`${base}/_sim/calls/${encodeURIComponent(dial.carrierCallId)}/events?after=${String(after)}&waitMs=10000`, { signal: stopPolling.signal });
        events = ((await res.json()) as { events: NetworkEvent[] }).events;
      } catch {
        return; // stopped, or the fake went away: the stream decides how the call ends
      }
      for (const e of events) {
        after = Math.max(after, e.seq);
        carrierEvents.push(e);
        if (e.type === 'hangup') hangup.abort();
      }
    }
  })();

  try {
    const result = await simulateCall({
      ...opts,
      transport: dial.transport,
      baseUrl: opts.networkUrl,
      stream: streamTargetOf(dial),
      carrierCallId: dial.carrierCallId,
      from: dial.from,
      to: dial.to,
      codec,
      audio: pcmCodec(codec).encode(opts.pcm),
      signal: hangup.signal,
    });
    return { ...result, dial, carrierEvents };
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    stopPolling.abort();
    await poll;
  }
}
