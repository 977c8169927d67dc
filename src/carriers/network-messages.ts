/**
 * What a carrier's network sends on the media stream: the mirror of each carrier's protocol.ts, used
 * by the call simulator (src/simulator/), the load driver (src/bench/) and the tests to play the
 * carrier. One implementation per carrier, beside its protocol: twilio/network-messages.ts,
 * telnyx/network-messages.ts.
 */
import type { WireCodec } from '../pipeline/frame.js';

export interface NetworkMessages {
  connected(): string;
  start(p: { carrierCallId: string; streamId: string; codec: WireCodec; customParameters: Record<string, string>; from?: string; to?: string }): string;
  media(payloadBase64: string, timestampMs: number, chunk: number): string;
  dtmf(digit: string): string;
  mark(name: string): string;
  stop(carrierCallId: string): string;
}
