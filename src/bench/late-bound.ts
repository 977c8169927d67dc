/** When the bench counts a caller frame as late at the provider (the frame ledger's bound). */
import { FRAME_MS } from './caller-audio.js';
import { loadConfig, type Config } from '../config.js';
import { audioChunkMsFor } from '../providers/registry.js';

/** A frame-per-message path: 60 ms from the caller's send to the provider. */
export const LATE_INGRESS_MS = 60;

/**
 * When a caller frame is late at the provider unless --late-in-ms says: 60 ms, plus what the
 * gateway's provider chunk holds a frame, by the gateway's own rule (`audioChunkMsFor`) on the
 * settings it is started with (`env`: PROVIDER_AUDIO_CHUNK_MS, VAD_ENGINE, the provider's turn
 * detection), so a chunked run does not count its own setting as lateness. The baseline bridge
 * sends a message per frame.
 */
export function lateIngressDefault(env: Record<string, string | undefined>, vad: string, target: 'gateway' | 'baseline'): number {
  if (target === 'baseline') return LATE_INGRESS_MS;
  let config: Config;
  try {
    config = loadConfig({ ...env, VAD_ENGINE: vad });
  } catch {
    return LATE_INGRESS_MS; // the gateway refuses these settings too, and says why
  }
  return LATE_INGRESS_MS + Math.max(0, audioChunkMsFor(config.providers[0], config) - FRAME_MS);
}
