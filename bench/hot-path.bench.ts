/**
 * Per-frame work on the gateway's main thread that issue 16 cut, each "before" next to its "after" in
 * one run:
 * - a per-frame latency observation: prom-client's Histogram (a label child, as LatencyRecorder held
 *   it) vs FrameHistogram (src/observability/frame-histogram.ts);
 * - a G.711 passthrough frame through the ingress graph with the VAD off: decoded for a VAD that takes
 *   nothing (before) vs handed on undecoded (after; VadInput.wantsAudio false).
 * A tight loop keeps prom-client's call sites monomorphic and its objects in cache, so its figure here
 * is a lower bound of what it costs among the gateway's other work.
 * Run: `node --import tsx bench/hot-path.bench.ts` (or `npm run bench:micro -- --suite hotpath`).
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { Histogram, Registry } from 'prom-client';
import { FrameHistogram } from '../src/observability/frame-histogram.js';
import { IngressGraph } from '../src/pipeline/ingress-graph.js';
import type { AudioFrame, EncodedFrame } from '../src/pipeline/frame.js';
import { microTable, type MicroResult } from './report.js';

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];

function passthroughGraph(wantsAudio: boolean, sink: (f: AudioFrame | EncodedFrame) => void): IngressGraph {
  return new IngressGraph({
    wireFormat: { codec: 'mulaw', sampleRate: 8000 },
    sinkFormat: { codec: 'mulaw', sampleRate: 8000 },
    // The VAD off: its push returns at once, as CallVad's does for engine 'off'.
    vad: { sampleRate: 8000, wantsAudio, push: () => undefined },
    sink,
    onError: (err) => {
      throw err;
    },
  });
}

export async function run(): Promise<MicroResult[]> {
  const values = Float64Array.from({ length: 4096 }, (_, i) => ((i * 7919) % 4096) / 4096 / 200);
  const prom = new Histogram({ name: 'bench_prom_seconds', help: 'h', labelNames: ['direction'], buckets: BUCKETS, registers: [new Registry()] });
  const promChild = prom.labels({ direction: 'ingress' });
  const fast = new FrameHistogram({ name: 'bench_fast_seconds', help: 'h', labelNames: ['direction'], buckets: BUCKETS, registers: [new Registry()] });
  const fastSeries = fast.series({ direction: 'ingress' });
  let i = 0;
  let sink = 0;
  // Kept, as the provider sink keeps it: the frame object escapes and must really be made.
  const kept: (AudioFrame | EncodedFrame)[] = new Array<AudioFrame | EncodedFrame>(64);
  const take = (f: AudioFrame | EncodedFrame) => {
    kept[f.seq & 63] = f;
    sink ^= f.seq;
  };
  const decoded = passthroughGraph(true, take);
  const undecoded = passthroughGraph(false, take);
  const payload = Uint8Array.from({ length: 160 }, (_, k) => (k * 37) & 0xff);
  let seq = 0;
  const summary = await b.suite(
    'per-frame hot path',
    b.add('latency observation: prom-client Histogram, label child (before)', () => {
      promChild.observe(values[i++ & 4095]);
    }),
    b.add('latency observation: FrameHistogram series (after)', () => {
      fastSeries.observe(values[i++ & 4095]);
    }),
    b.add('G.711 passthrough, VAD off: decoded for nothing (before)', () => {
      decoded.write({ payload, seq: seq++, timestampMs: 0, receivedAtMs: 0 });
    }),
    b.add('G.711 passthrough, VAD off: undecoded (after)', () => {
      undecoded.write({ payload, seq: seq++, timestampMs: 0, receivedAtMs: 0 });
    }),
    b.cycle(),
  );
  if (sink === 0x7fffffff) console.log(sink); // keep the work observable
  return microTable('hotpath', summary);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await run());
}
