/**
 * A werift peer that plays the browser's part in tests: makes offers (good and bad), and once
 * answered sends Opus RTP and collects what comes back. No browser needed for signalling and media
 * tests; test/e2e/browser-call.test.ts covers the real one.
 */
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';

export function opusCodec(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });
}

export async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') {
        unSubscribe();
        resolve();
      }
    });
  });
}

export interface TestPeer {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver | undefined;
  /** RTP payloads received, with their headers. */
  readonly received: RtpPacket[];
  offer(): string;
  answer(sdp: string): Promise<void>;
  connected(): Promise<void>;
  send(header: { sequenceNumber: number; timestamp: number; marker?: boolean }, payload: Uint8Array): void;
  close(): Promise<void>;
}

/** An offering peer: one audio transceiver (or `kind: 'video'` for a bad offer), candidates gathered. */
export async function createPeer(opts: { kind?: 'audio' | 'video'; direction?: 'sendrecv' | 'recvonly' } = {}): Promise<TestPeer> {
  const vp8 = new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000 });
  const pc = new RTCPeerConnection({ codecs: { audio: [opusCodec()], video: [vp8] } });
  const received: RtpPacket[] = [];
  const kind = opts.kind ?? 'audio';
  const transceiver = kind === 'audio'
    ? pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: opts.direction ?? 'sendrecv' })
    : pc.addTransceiver('video', { direction: 'sendrecv' });
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => received.push(rtp));
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return {
    pc,
    transceiver: kind === 'audio' ? transceiver : undefined,
    received,
    offer: () => pc.localDescription!.sdp,
    answer: (sdp) => pc.setRemoteDescription({ type: 'answer', sdp }),
    connected: () =>
      new Promise<void>((resolve, reject) => {
        if (pc.connectionState === 'connected') return resolve();
        const timer = setTimeout(() => reject(new Error(`peer did not connect (${pc.connectionState})`)), 10_000);
        const { unSubscribe } = pc.connectionStateChange.subscribe((s) => {
          if (s === 'connected') {
            clearTimeout(timer);
            unSubscribe();
            resolve();
          }
        });
      }),
    send: (header, payload) => {
      void transceiver.sender.sendRtp(new RtpPacket(new RtpHeader({ ...header, payloadType: 111 }), Buffer.from(payload)));
    },
    close: () => pc.close(),
  };
}
