/**
 * A real browser call: Debian's Chromium, headless, driven by playwright-core, loads the page the
 * gateway serves at `/`; its fake microphone plays the call-quiet fixture; the call runs over werift
 * WebRTC into the same graph and echo provider as telephony calls. We check what the person at the
 * browser sees (status, provider, level meter) and hears (the remote audio, recorded in the page),
 * the page's inbound RTP stats, and that "End call" ends the call on both sides.
 *
 * In-page code is passed as strings: this project type-checks without DOM types.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resampler } from '../../src/pipeline/resample/resampler.js';
import { writeWav } from '../../src/pipeline/wav.js';
import { readFixtureWav, readLabels } from '../support/fixtures.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CHROMIUM, requireTool } from '../support/requirements.js';
import { maxNormalisedCorrelation } from '../support/signal.js';

/** CHROME_PATH, else chromium / chromium-browser / google-chrome on PATH; none: skipped loudly (CI: fails). */
const browser = requireTool(CHROMIUM);
const RATE = 16000;

/** Keeps the page's RTCPeerConnections and records the remote audio it plays (48 kHz float). */
const RECORDER = `(() => {
  const Native = window.RTCPeerConnection;
  const rec = { chunks: [], rate: 0 };
  window.__test = { pcs: [], rec };
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__test.pcs.push(this);
      this.addEventListener('track', (event) => {
        const ctx = new AudioContext({ sampleRate: 48000 });
        void ctx.resume();
        const source = ctx.createMediaStreamSource(new MediaStream([event.track]));
        const node = ctx.createScriptProcessor(4096, 1, 1);
        rec.rate = ctx.sampleRate;
        node.onaudioprocess = (e) => rec.chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
        source.connect(node);
        node.connect(ctx.destination);
      });
    }
  };
})();`;

/** The recording at 16 kHz PCM16 (every third sample: the bot audio is wideband, < 8 kHz), base64. */
const TAKE_RECORDING = `(() => {
  const chunks = window.__test.rec.chunks;
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Int16Array(Math.floor(total / 3));
  let j = 0, k = 0;
  for (const c of chunks) for (let i = 0; i < c.length; i++, j++) {
    if (j % 3 === 0 && k < out.length) out[k++] = Math.max(-32768, Math.min(32767, Math.round(c[i] * 32768)));
  }
  const bytes = new Uint8Array(out.buffer);
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(s);
})()`;

const INBOUND_STATS = `(async () => {
  const report = await window.__test.pcs[0].getStats();
  let inbound;
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s; });
  return inbound;
})()`;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-quic',
];

interface InboundRtp {
  packetsReceived: number;
  packetsLost: number;
  totalSamplesReceived: number;
  totalAudioEnergy: number;
  bytesReceived: number;
}

/** RBJ biquad high-pass (Q 0.707). */
function highPass(x: Int16Array, cutoffHz: number): Int16Array {
  const w0 = (2 * Math.PI * cutoffHz) / RATE;
  const alpha = Math.sin(w0) / (2 * Math.SQRT1_2);
  const cos = Math.cos(w0);
  const [b0, b1, b2, a0, a1, a2] = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha];
  const y = new Int16Array(x.length);
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const v = (b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
    x2 = x1;
    x1 = x[i];
    y2 = y1;
    y1 = v;
    y[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return y;
}

/** Stretches of sound separated by more than `gapMs` of quiet, in samples. */
function bursts(pcm: Int16Array, gapMs = 600): { start: number; end: number }[] {
  const hop = RATE / 50;
  const out: { start: number; end: number }[] = [];
  let start = -1;
  let quiet = 0;
  for (let i = 0; i + hop <= pcm.length; i += hop) {
    let s = 0;
    for (let k = i; k < i + hop; k++) s += pcm[k] * pcm[k];
    if (Math.sqrt(s / hop) > 200) {
      if (start < 0) start = i;
      quiet = 0;
    } else if (start >= 0 && (quiet += 20) > gapMs) {
      out.push({ start, end: i - gapMs + 20 });
      start = -1;
      quiet = 0;
    }
  }
  if (start >= 0) out.push({ start, end: pcm.length });
  return out;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!browser.path)('browser call in Chromium over WebRTC', () => {
  let gw: TestGateway | undefined;
  let context: BrowserContext | undefined;
  let dir: string | undefined;
  let micFile = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-browser-'));
    // Chromium's fake capture wants the file at the capture rate: our resampler, 16 -> 48 kHz.
    const wav = readFixtureWav('calls/call-quiet.16k.wav');
    const rs = new Resampler({ from: wav.sampleRate, to: 48000 });
    const head = rs.process(wav.samples);
    const tail = rs.flush();
    const pcm = new Int16Array(head.length + tail.length);
    pcm.set(head);
    pcm.set(tail, head.length);
    micFile = join(dir, 'call-quiet.48k.wav');
    writeFileSync(micFile, writeWav({ samples: pcm.subarray(rs.delaySamples), sampleRate: 48000 }));
    gw = await startTestGateway();
    // playwright refuses --user-data-dir in args; a persistent context is the same fresh profile.
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: browser.path,
      headless: true,
      args: [...CHROMIUM_ARGS, `--use-file-for-fake-audio-capture=${micFile}`],
    });
  });

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function openPage(initScript: string): Promise<Page> {
    const page = await context!.newPage();
    await page.addInitScript({ content: initScript });
    await page.goto(`${gw!.baseUrl}/`);
    return page;
  }

  it('calls, hears one echo per utterance, and "End call" ends it on both sides', { timeout: 90_000 }, async () => {
    const g = gw!;
    const page = await openPage(RECORDER);
    const status = page.locator('[role="status"]');
    await expect.poll(() => status.textContent()).toContain('Ready');

    // Keyboard only: focus the button and press Enter.
    await page.focus('#start');
    await page.keyboard.press('Enter');
    await until('Connected', async () => (await status.textContent())?.includes('Connected'), 20_000);
    expect(await page.textContent('#provider')).toBe('echo');

    const listed = await (await fetch(`${g.baseUrl}/api/v1/webrtc/sessions`)).json() as { sessions: { sessionId: string; callId: string }[] };
    expect(listed.sessions).toHaveLength(1);
    const { sessionId, callId } = listed.sessions[0];

    // The fixture has three utterances and Chromium loops it: stop once the third has been answered.
    const turnEnds = () => g.logs.filter((l) => l.event === 'turn_end' && l.callId === callId).length;
    let meterMax = 0;
    await until(
      'three caller turns',
      async () => {
        meterMax = Math.max(meterMax, Number(await page.evaluate('document.getElementById("level").value')));
        return turnEnds() >= 3;
      },
      40_000,
    );
    await page.waitForTimeout(1500); // let the third reply play for a while
    expect(turnEnds()).toBe(3);
    expect(meterMax, 'the level meter moved with the microphone').toBeGreaterThan(0.2);

    // The page received and played audio.
    const inbound = (await page.evaluate(INBOUND_STATS)) as InboundRtp;
    expect(inbound.packetsReceived).toBeGreaterThan(100);
    expect(inbound.totalAudioEnergy).toBeGreaterThan(0);
    expect(inbound.totalSamplesReceived).toBeGreaterThan(48000);
    const gatewaySide = await (await fetch(`${g.baseUrl}/api/v1/webrtc/sessions`)).json() as { sessions: { rtpIn: number; rtpOut: number; jitter: { lost: number } }[] };
    expect(gatewaySide.sessions[0].rtpIn).toBeGreaterThan(400);
    // Read after the page's stats, with the third reply still streaming: a few more may have gone out.
    expect(gatewaySide.sessions[0].rtpOut).toBeGreaterThanOrEqual(inbound.packetsReceived + inbound.packetsLost);
    expect(gatewaySide.sessions[0].rtpOut).toBeLessThan(inbound.packetsReceived + inbound.packetsLost + 25);
    expect(gatewaySide.sessions[0].jitter.lost).toBe(0);

    // "End call", by keyboard: the page ends, the gateway ends the session and the call.
    await page.focus('#end');
    await page.keyboard.press('Enter');
    await until('Ended', async () => (await status.textContent())?.includes('Ended'), 5000);
    expect(await page.evaluate('window.__test.pcs[0].connectionState')).toBe('closed');
    await until('the gateway to end the call', () => g.gateway.calls.get(callId) === undefined, 5000);
    const ended = g.logs.find((l) => l.event === 'call_ended' && l.callId === callId);
    expect(ended?.reason).toBe('caller_hangup');
    expect((await fetch(`${g.baseUrl}/webrtc/sessions/${sessionId}`)).status).toBe(404);
    expect(await page.isDisabled('#end')).toBe(true);
    expect(await page.isEnabled('#start')).toBe(true);

    // What the browser heard: one reply per utterance, each the echo of its own utterance. Chromium's
    // capture processing (high-pass, noise suppression, AGC) reshapes the low band, so both sides are
    // compared above 300 Hz; replies are cut short where the next utterance barges in.
    const heard = new Int16Array(Buffer.from((await page.evaluate(TAKE_RECORDING)) as string, 'base64').buffer.slice(0));
    const replies = bursts(heard);
    expect(replies.map((r) => ((r.end - r.start) / RATE).toFixed(1)), 'reply lengths (s)').toHaveLength(3);
    const mic = highPass(readFixtureWav('calls/call-quiet.16k.wav').samples, 300);
    const heardHp = highPass(heard, 300);
    const utterances = readLabels('call-quiet').utterances;
    // Each reply is probed in three overlapping half-second windows of its first second and scored by
    // the best: on a loaded machine Chromium's fake capture or playout can drop a few milliseconds,
    // which lowers a correlation across the gap without changing whose echo the reply is. Alone, a
    // reply scores 0.70-0.89 against its own utterance and at most 0.3 against the others; the bars
    // leave room for a loaded CI box (a full run once scored 0.46) and still tell them apart.
    const HALF = RATE / 2;
    replies.forEach((reply, i) => {
      const end = Math.min(reply.end, reply.start + RATE);
      const probes = [0, HALF / 2, HALF]
        .map((offset) => heardHp.subarray(reply.start + offset, Math.min(end, reply.start + offset + HALF)))
        .filter((p) => p.length >= HALF / 2);
      const scores = utterances.map((u) => {
        const from = Math.max(0, Math.round(((u.startMs - 600) * RATE) / 1000));
        const to = Math.min(mic.length, Math.round(((u.endMs + 1200) * RATE) / 1000));
        const reference = mic.subarray(from, to);
        return Math.max(...probes.map((probe) => maxNormalisedCorrelation(probe, reference, Math.max(0, reference.length - Math.floor(probe.length * 0.8))).ncc));
      });
      const others = scores.filter((_, j) => j !== i);
      expect(scores[i], `reply ${String(i)} vs its utterance (${scores.map((s) => s.toFixed(2)).join(', ')})`).toBeGreaterThanOrEqual(0.45);
      expect(scores[i] - Math.max(...others), `reply ${String(i)} is its own utterance, not another (${scores.map((s) => s.toFixed(2)).join(', ')})`).toBeGreaterThanOrEqual(0.3);
    });
    await page.close();
  });

  it('reconnects once when ICE fails, then stops and says why', { timeout: 60_000 }, async () => {
    const g = gw!;
    const page = await openPage(RECORDER);
    const status = page.locator('[role="status"]');
    const sessions = async () => ((await (await fetch(`${g.baseUrl}/api/v1/webrtc/sessions`)).json()) as { sessions: { sessionId: string }[] }).sessions;
    // What the page sees when the network goes: its connection reports 'failed'.
    const failLatest = `(() => {
      const pc = window.__test.pcs[window.__test.pcs.length - 1];
      Object.defineProperty(pc, 'connectionState', { get: () => 'failed' });
      pc.dispatchEvent(new Event('connectionstatechange'));
    })()`;
    await page.click('#start');
    await until('Connected', async () => (await status.textContent())?.includes('Connected'), 20_000);
    expect(await page.textContent('#connection')).toBe('Connected');
    const [first] = await sessions();

    await page.evaluate(failLatest);
    await until('a second session', async () => {
      const now = await sessions();
      return now.length === 1 && now[0].sessionId !== first.sessionId;
    }, 20_000);
    await until('Connected again', async () => (await status.textContent())?.includes('Connected'), 20_000);
    expect(await page.evaluate('window.__test.pcs.length')).toBe(2);

    await page.evaluate(failLatest);
    await until('the page to give up', async () => (await status.textContent())?.includes('The connection failed'), 10_000);
    expect(await status.getAttribute('data-state')).toBe('error');
    await until('the gateway to end it', async () => (await sessions()).length === 0, 10_000);
    expect(await page.evaluate('window.__test.pcs.length'), 'no third attempt').toBe(2);
    expect(await page.isEnabled('#start')).toBe(true);
    await page.close();
  });

  it('says in words when the microphone is denied or missing, and stays usable', async () => {
    for (const [name, expected] of [
      ['NotAllowedError', 'Microphone access was denied'],
      ['NotFoundError', 'No microphone was found'],
    ] as const) {
      const page = await openPage(
        `navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('refused', '${name}'));`,
      );
      await page.click('#start');
      const status = page.locator('[role="status"]');
      await until(name, async () => (await status.textContent())?.includes(expected), 5000);
      expect(await status.getAttribute('data-state')).toBe('error');
      expect(await page.isEnabled('#start'), 'Start call works again').toBe(true);
      expect(await page.isDisabled('#end')).toBe(true);
      await page.close();
    }
    // Nothing was opened on the gateway for those attempts.
    const listed = await (await fetch(`${gw!.baseUrl}/api/v1/webrtc/sessions`)).json() as { sessions: unknown[] };
    expect(listed.sessions).toHaveLength(0);
  });

  it('is labelled, keyboard operable with visible focus, and fits a phone with 44 px targets', async () => {
    const page = await openPage('');
    await page.setViewportSize({ width: 360, height: 640 });
    const start = page.getByRole('button', { name: 'Start call' });
    const end = page.getByRole('button', { name: 'End call' });
    await expect.poll(() => start.isVisible()).toBe(true);
    expect(await end.isDisabled()).toBe(true);
    expect(await page.getByRole('status').count()).toBe(1);
    expect(await page.getByRole('meter', { name: 'Microphone level' }).count()).toBe(1);
    for (const button of [start, end]) {
      const box = (await button.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(box.width).toBeGreaterThanOrEqual(44);
      expect(box.x + box.width).toBeLessThanOrEqual(360);
    }
    // No sideways scrolling on a phone.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    // Tab reaches Start call first, and focus is visible on it.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('start');
    const outline = (await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')) as string;
    expect(outline).not.toBe('none');
    await page.close();
  });
});
