/**
 * WAV read/write for tests, the CLI and the simulated caller, through `wavefile`. Not on the hot path.
 * Reading accepts PCM (8/16/24/32-bit int, 32/64-bit float) and G.711 WAVs of any channel count and
 * returns mono PCM16 (channels averaged).
 */
import wavefile from 'wavefile';
import { GatewayError } from '../errors.js';

export interface PcmAudio {
  readonly samples: Int16Array;
  readonly sampleRate: number;
}

interface FmtChunk {
  numChannels: number;
  sampleRate: number;
  audioFormat: number;
}

export function readWav(bytes: Uint8Array): PcmAudio {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(bytes);
    if (wav.bitDepth !== '16') {
      // Decodes G.711 and converts any other depth to 16-bit integer samples.
      if (wav.bitDepth === '8a') wav.fromALaw();
      else if (wav.bitDepth === '8m') wav.fromMuLaw();
      wav.toBitDepth('16');
    }
  } catch (err) {
    throw new GatewayError('GW_ERR_AUDIO_BAD_WAV', (err as Error).message, { cause: err });
  }
  const fmt = wav.fmt as FmtChunk;
  const channels = fmt.numChannels;
  const interleaved = wav.getSamples(true, Int16Array) as unknown as Int16Array;
  if (channels <= 1) return { samples: interleaved, sampleRate: fmt.sampleRate };
  const frames = Math.floor(interleaved.length / channels);
  const mono = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[i * channels + c];
    mono[i] = Math.round(sum / channels);
  }
  return { samples: mono, sampleRate: fmt.sampleRate };
}

export function writeWav(audio: PcmAudio): Uint8Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, audio.sampleRate, '16', audio.samples);
  return wav.toBuffer();
}
