/**
 * `voice-gateway vad FILE`: speech segments of a recording as JSON, through the same VAD a live
 * call uses (CallVad fed 20 ms frames). Silero runs in a one-thread worker pool made and closed
 * here; a Silero fault falls back to the energy VAD, says so on stderr and in the output's `engine`.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { GatewayError, isGatewayError } from '../../errors.js';
import { createLogger } from '../../observability/logger.js';
import { decodeAlaw, decodeMulaw } from '../../pipeline/codecs/g711.js';
import { Resampler } from '../../pipeline/resample/resampler.js';
import { detectSegments } from '../../pipeline/vad/detect-file.js';
import { isVadSampleRate, type VadSampleRate } from '../../pipeline/vad/silero-model.js';
import { createVadService } from '../../pipeline/vad/vad-service.js';
import { readWav, type PcmAudio } from '../../pipeline/wav.js';
import { createWorkerPool, type WorkerPool } from '../../workers/pool.js';

const USAGE = `Usage: voice-gateway vad FILE [options]

Detect speech turns in a recording and print {"segments":[{"startMs":..,"endMs":..}]} as JSON.

Options:
  -e, --engine silero|energy   VAD engine (default: silero)
  -r, --rate 8000|16000        rate the VAD runs at (default: the file's rate if 8000 or 16000, else 16000)
  -f, --format wav|mulaw|alaw  input format (default from the extension: .wav, .ulaw/.mulaw/.mu, .alaw/.al;
                               raw G.711 is 8 kHz mono)
  -h, --help                   show this help
`;

type Format = 'wav' | 'mulaw' | 'alaw';

const EXTENSIONS: Record<string, Format> = {
  '.wav': 'wav',
  '.ulaw': 'mulaw',
  '.mulaw': 'mulaw',
  '.mu': 'mulaw',
  '.alaw': 'alaw',
  '.al': 'alaw',
};

function usage(detail: string): GatewayError {
  return new GatewayError('GW_ERR_CLI_USAGE', detail);
}

interface VadArgs {
  file: string;
  engine: 'silero' | 'energy';
  rate: VadSampleRate | undefined;
  format: Format;
}

function parse(argv: string[]): VadArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        engine: { type: 'string', short: 'e' },
        rate: { type: 'string', short: 'r' },
        format: { type: 'string', short: 'f' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) throw usage(`expected one FILE, got ${String(positionals.length)}`);
  const file = positionals[0];
  const engine = values.engine ?? 'silero';
  if (engine !== 'silero' && engine !== 'energy') throw usage(`--engine must be silero or energy, got '${engine}'`);
  let rate: VadSampleRate | undefined;
  if (values.rate !== undefined) {
    const n = Number(values.rate);
    if (!isVadSampleRate(n)) throw usage(`--rate must be 8000 or 16000, got '${values.rate}'`);
    rate = n;
  }
  const format = values.format ?? EXTENSIONS[extname(file).toLowerCase()];
  if (format !== 'wav' && format !== 'mulaw' && format !== 'alaw') {
    throw usage(
      values.format === undefined
        ? `cannot tell the format of '${file}' from its extension; pass --format wav|mulaw|alaw`
        : `--format must be wav, mulaw or alaw, got '${values.format}'`,
    );
  }
  return { file, engine, rate, format };
}

function readAudio(file: string, format: Format): PcmAudio {
  const buf = readFileSync(file);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (format === 'wav') return readWav(bytes);
  if (bytes.length === 0) throw new GatewayError('GW_ERR_AUDIO_BAD_INPUT', `${file} is empty`);
  return { samples: format === 'mulaw' ? decodeMulaw(bytes) : decodeAlaw(bytes), sampleRate: 8000 };
}

/** Whole-file conversion with the filter delay removed, so times stay aligned with the input. */
function resample(samples: Int16Array, from: number, to: number): Int16Array {
  const resampler = new Resampler({ from, to });
  const head = resampler.process(samples);
  const tail = resampler.flush();
  const out = new Int16Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out.subarray(resampler.delaySamples);
}

export async function run(argv: string[]): Promise<number> {
  let args: VadArgs | 'help';
  try {
    args = parse(argv);
  } catch (err) {
    const code = isGatewayError(err) ? ` (${err.code})` : '';
    process.stderr.write(`voice-gateway vad: ${(err as Error).message}${code}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  let pool: WorkerPool | undefined;
  try {
    const audio = readAudio(args.file, args.format);
    const rate = args.rate ?? (isVadSampleRate(audio.sampleRate) ? audio.sampleRate : 16000);
    const samples = audio.sampleRate === rate ? audio.samples : resample(audio.samples, audio.sampleRate, rate);
    const logger = createLogger({ level: 'warn', destination: process.stderr, base: { command: 'vad' } });
    pool = args.engine === 'silero' ? createWorkerPool({ size: 1, logger }) : undefined;
    // A file is scored faster than real time: no backlog limit, and patience for the first batch.
    const service = createVadService({ engine: args.engine, pool, logger, maxBacklogMs: Infinity, taskTimeoutMs: 30_000, warmUp: false });
    try {
      const result = await detectSegments({ service, samples, sampleRate: rate });
      const segments = result.segments.map((s) => ({ startMs: Math.round(s.startMs), endMs: Math.round(s.endMs) }));
      process.stdout.write(`${JSON.stringify({ engine: result.engine, sampleRate: rate, segments })}\n`);
    } finally {
      await service.close();
    }
    return 0;
  } catch (err) {
    if (isGatewayError(err) || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      const code = isGatewayError(err) ? ` (${err.code})` : '';
      process.stderr.write(`voice-gateway vad: ${(err as Error).message}${code}\n`);
      return isGatewayError(err, 'GW_ERR_CLI_USAGE') ? 2 : 1;
    }
    throw err;
  } finally {
    await pool?.close();
  }
}
