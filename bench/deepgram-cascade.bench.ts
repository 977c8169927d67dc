/**
 * deepgram-cascade latency: caller turn end (endTurn) -> first reply audio, through the real adapter
 * over loopback fakes with fixed delays: STT final (Finalize answer) `sttMs`, LLM first token
 * `llmMs` (the first sentence arrives whole with it), TTS first byte `ttsMs`. What the cascade itself
 * adds is the measured time minus their sum; the budget is 20 ms.
 *
 *   npx tsx bench/deepgram-cascade.bench.ts [--turns 30] [--stt 100] [--llm 300] [--tts 150]
 *
 * Writes bench/results/deepgram-cascade.json and .md.
 */
import { writeFileSync } from 'node:fs';
import { silentLogger } from '../src/observability/logger.js';
import type { EncodedFrame } from '../src/pipeline/frame.js';
import { DeepgramCascadeProvider } from '../src/providers/deepgram/cascade-provider.js';
import { ChatResponder } from '../src/providers/llm/chat-responder.js';
import type { ProviderEvent } from '../src/providers/types.js';
import { ChatCompletionsFake } from '../test/fakes/chat-completions-fake.js';
import { DeepgramFake } from '../test/fakes/deepgram-fake.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const turns = arg('turns', 30);
const sttMs = arg('stt', 100);
const llmMs = arg('llm', 300);
const ttsMs = arg('tts', 150);
const KEY = 'bench-dg';
const LLM_KEY = 'bench-llm';

const dg = await DeepgramFake.start({ apiKey: KEY, transcript: 'what is the weather like', interim: false, resultsDelayMs: sttMs, speak: { firstByteMs: ttsMs, msPerChar: 5 } });
const llm = await ChatCompletionsFake.start({ apiKey: LLM_KEY, firstTokenMs: llmMs, chunkChars: 200, reply: () => 'It is sunny and warm today. Anything else?' });
const provider = new DeepgramCascadeProvider(
  { apiKey: KEY, baseUrl: dg.url, sttModel: 'nova-3', ttsModel: 'aura-2-thalia-en' },
  // Flush limit raised: the bench asks for more turns a minute than a real caller would.
  { responder: new ChatResponder({ baseUrl: llm.url, apiKey: LLM_KEY, model: 'bench', instructions: 'Be brief.' }), flushLimit: { count: 10_000, windowMs: 60_000 } },
);
const mulaw = { codec: 'mulaw' as const, sampleRate: 8000 };
const session = await provider.connect({ callId: 'bench', inputFormat: mulaw, callerFormat: mulaw, history: [], logger: silentLogger() });
const waiting: ((e: ProviderEvent) => void)[] = [];
void (async () => {
  for await (const e of session.events) for (const w of waiting.splice(0)) w(e);
})();
const next = (type: ProviderEvent['type']) =>
  new Promise<number>((resolve) => {
    const w = (e: ProviderEvent) => (e.type === type ? resolve(performance.now()) : waiting.push(w));
    waiting.push(w);
  });

const samples: number[] = [];
for (let t = 0; t < turns; t++) {
  const frame: EncodedFrame = { codec: 'mulaw', payload: new Uint8Array(160).fill(0x7f), sampleRate: 8000, seq: t, timestampMs: t * 20, sampleCount: 160 };
  session.pushAudio(frame);
  await new Promise((r) => setTimeout(r, 20));
  const firstAudio = next('audio');
  const done = next('responseDone');
  const t0 = performance.now();
  session.endTurn({ startMs: t * 20, endMs: t * 20 + 20 });
  samples.push((await firstAudio) - t0);
  await done;
}
await session.close();
await llm.close();
await dg.close();

const sorted = [...samples].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const fixed = sttMs + llmMs + ttsMs;
const result = {
  turns,
  fixedDelaysMs: { stt: sttMs, llmFirstSentence: llmMs, ttsFirstByte: ttsMs, sum: fixed },
  turnEndToFirstAudioMs: { p50: +q(0.5).toFixed(1), p95: +q(0.95).toFixed(1), max: +sorted.at(-1)!.toFixed(1) },
  addedByCascadeMs: { p50: +(q(0.5) - fixed).toFixed(1), p95: +(q(0.95) - fixed).toFixed(1), max: +(sorted.at(-1)! - fixed).toFixed(1) },
  budgetMs: 20,
};
const md = [
  '# deepgram-cascade: caller turn end -> first reply audio',
  '',
  `Loopback fakes with fixed delays: STT final ${String(sttMs)} ms, LLM first sentence ${String(llmMs)} ms, TTS first byte ${String(ttsMs)} ms (sum ${String(fixed)} ms); ${String(turns)} turns.`,
  '',
  '| | p50 | p95 | max |',
  '| --- | --- | --- | --- |',
  `| turn end -> first audio (ms) | ${String(result.turnEndToFirstAudioMs.p50)} | ${String(result.turnEndToFirstAudioMs.p95)} | ${String(result.turnEndToFirstAudioMs.max)} |`,
  `| added by the cascade (ms, budget 20) | ${String(result.addedByCascadeMs.p50)} | ${String(result.addedByCascadeMs.p95)} | ${String(result.addedByCascadeMs.max)} |`,
  '',
  'Command: `npx tsx bench/deepgram-cascade.bench.ts`',
  '',
].join('\n');
writeFileSync(new URL('results/deepgram-cascade.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(new URL('results/deepgram-cascade.md', import.meta.url), md);
console.log(md);
