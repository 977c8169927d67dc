/** L16: PCM16 in network byte order (big-endian), as RTP and Telnyx's L16 streams carry it. */
import { GatewayError } from '../../errors.js';

export function decodeL16(bytes: Uint8Array, out?: Int16Array): Int16Array {
  if (bytes.length === 0) throw new GatewayError('GW_ERR_AUDIO_EMPTY_FRAME', 'L16 payload');
  if (bytes.length % 2 !== 0) throw new GatewayError('GW_ERR_AUDIO_ODD_LENGTH', `L16 payload of ${String(bytes.length)} bytes`);
  const n = bytes.length >> 1;
  const pcm = out ?? new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return pcm;
}

export function encodeL16(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  if (pcm.length === 0) throw new GatewayError('GW_ERR_AUDIO_EMPTY_FRAME', 'PCM16 input to the L16 encoder');
  const bytes = out ?? new Uint8Array(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i];
    bytes[2 * i] = (s >> 8) & 0xff;
    bytes[2 * i + 1] = s & 0xff;
  }
  return bytes;
}
