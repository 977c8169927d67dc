/**
 * Checks a browser's SDP offer before anything is allocated for it, so bad signalling gets a 400 that
 * says what is wrong instead of a half-built peer connection. We answer exactly one audio section
 * that can send us Opus, with DTLS, and with its candidates gathered unless the offerer trickles them.
 */
import { GatewayError } from '../../errors.js';

/** A real audio-only offer from Chrome or Firefox is 2-6 KiB; anything near this is not one. */
export const MAX_SDP_BYTES = 32 * 1024;
/** Candidates an offer may carry: the same bound as a session's trickled ones (MAX_REMOTE_CANDIDATES). */
export const MAX_OFFER_CANDIDATES = 64;

export interface OfferSummary {
  /** The Opus payload type the offer uses. */
  readonly opusPayloadType: number;
  readonly candidates: number;
}

function bad(detail: string): GatewayError {
  return new GatewayError('GW_ERR_TRANSPORT_BAD_SDP', detail);
}

/** Throws GW_ERR_TRANSPORT_BAD_SDP with a reason a developer can act on. */
export function checkOffer(sdp: unknown, opts: { trickle?: boolean } = {}): OfferSummary {
  if (typeof sdp !== 'string' || sdp.trim() === '') throw bad('`sdp` must be a non-empty string');
  if (Buffer.byteLength(sdp) > MAX_SDP_BYTES) throw bad(`offer is larger than ${String(MAX_SDP_BYTES)} bytes`);
  const lines = sdp.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0] !== 'v=0') throw bad('not SDP: the first line must be v=0');
  const malformed = lines.find((l) => !/^[a-z]=/.test(l));
  if (malformed !== undefined) throw bad(`not SDP: line '${malformed.slice(0, 40)}' is not <letter>=<value>`);

  // Split into the session part and one part per m= line.
  const sections: string[][] = [[]];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1].push(line);
  }
  const session = sections[0];
  const media = sections.slice(1);
  if (media.length === 0) throw bad('the offer has no media section; add an audio track (addTransceiver("audio"))');
  const audio = media.filter((m) => m[0].startsWith('m=audio '));
  if (audio.length === 0) throw bad('the offer has no audio section; add a microphone track or an audio transceiver');
  if (media.length > 1) throw bad(`the offer has ${String(media.length)} media sections; send exactly one audio track and no video or data channel`);

  const section = audio[0];
  const mLine = section[0].split(' ');
  if (mLine[1] === '0') throw bad('the audio section is disabled (port 0)');
  const has = (prefix: string) => section.some((l) => l.startsWith(prefix)) || session.some((l) => l.startsWith(prefix));
  const direction = ['a=sendrecv', 'a=sendonly', 'a=recvonly', 'a=inactive'].find((d) => has(d)) ?? 'a=sendrecv';
  if (direction === 'a=recvonly' || direction === 'a=inactive') {
    throw bad(`the audio section is ${direction.slice(2)}: the browser must send microphone audio (sendrecv)`);
  }
  const opus = section.map((l) => /^a=rtpmap:(\d+) opus\/48000(?:\/\d)?$/i.exec(l)).find((m) => m !== null);
  if (!opus) throw bad('the audio section does not offer Opus at 48 kHz (a=rtpmap:<pt> opus/48000/2)');
  const payloadType = Number(opus[1]);
  if (!mLine.slice(3).includes(opus[1])) throw bad(`Opus payload type ${opus[1]} is not listed on the m=audio line`);
  if (!has('a=ice-ufrag:') || !has('a=ice-pwd:')) throw bad('the offer has no ICE credentials (a=ice-ufrag / a=ice-pwd)');
  if (!has('a=fingerprint:')) throw bad('the offer has no DTLS fingerprint; plain RTP is not accepted');
  const candidates = section.filter((l) => l.startsWith('a=candidate:')).length;
  // Each one is a connectivity check werift would run; a browser gathers a handful.
  if (candidates > MAX_OFFER_CANDIDATES) throw bad(`the offer has ${String(candidates)} ICE candidates; at most ${String(MAX_OFFER_CANDIDATES)} are taken`);
  if (candidates === 0 && !opts.trickle) {
    throw bad('the offer has no ICE candidates: wait for ICE gathering to complete before sending it, or send "trickle": true and POST the candidates to /webrtc/sessions/:sessionId/candidates');
  }
  return { opusPayloadType: payloadType, candidates };
}

/**
 * Put our Opus receive preferences into an answer. werift copies the offer's fmtp into its answer,
 * but an answer's fmtp describes what the answerer wants to receive, so we state ours.
 */
export function withOpusFmtp(answerSdp: string, payloadType: number, fmtp: string): string {
  const eol = answerSdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = answerSdp.split(eol);
  const kept = lines.filter((l) => !l.startsWith(`a=fmtp:${String(payloadType)} `));
  const at = kept.findIndex((l) => l.startsWith(`a=rtpmap:${String(payloadType)} `));
  if (at < 0) return answerSdp;
  kept.splice(at + 1, 0, `a=fmtp:${String(payloadType)} ${fmtp}`);
  return kept.join(eol);
}
