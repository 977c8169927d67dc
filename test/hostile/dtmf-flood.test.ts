/**
 * Attack: DTMF events whose `digit` is a 60 KB string, sent as fast as a socket allows, to fill the
 * call record (rewritten every second), the log and the provider. Only `0-9 * # A-D` is a key press;
 * the rest is refused, counted and logged at a bounded rate, and a normal call alongside is whole.
 * Proven by counters (metrics, record sizes, log line counts), never by timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtmfGate, MAX_DTMF_PER_SECOND, MAX_DTMF_RECORDED, isDtmfDigit } from '../../src/calls/dtmf-digit.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { openSocket, oneUtteranceMulaw } from '../support/media-socket.js';

describe('DTMF admission (unit)', () => {
  it.each(['0', '9', '*', '#', 'A', 'D'])('takes the key %s', (d) => expect(isDtmfDigit(d)).toBe(true));
  it.each(['', '10', 'E', 'a', ' 1', '1\n', '١', 'x'.repeat(65_536), '__proto__'])('refuses %j', (d) => expect(isDtmfDigit(d)).toBe(false));
  it.each([undefined, null, 1, {}, ['1']])('refuses the non-string %j', (d) => expect(isDtmfDigit(d)).toBe(false));

  it('counts every refusal but writes at most 5 log lines a second, and paces valid keys', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const metrics = createMetrics();
    let now = 0;
    const gate = new DtmfGate({ metrics, logger, now: () => now });
    for (let i = 0; i < 1000; i++) expect(gate.admit('x'.repeat(1000), 0)).toBe(false);
    expect(lines).toHaveLength(5);
    expect(JSON.stringify(lines).length).toBeLessThan(2000);
    now = 1000;
    let taken = 0;
    for (let i = 0; i < 100; i++) if (gate.admit('5', taken)) taken++;
    expect(taken).toBe(MAX_DTMF_PER_SECOND);
    expect(gate.admit('5', MAX_DTMF_RECORDED)).toBe(false);
    const byReason = Object.fromEntries((await metrics.dtmfRejectedTotal.get()).values.map((v) => [v.labels.reason, v.value]));
    expect(byReason).toEqual({ not_a_key: 1000, too_fast: 100 - MAX_DTMF_PER_SECOND, record_full: 1 });
    // The line after a quiet second says how many were held back.
    expect(lines.find((l) => l.event === 'dtmf' && typeof l.suppressedLines === 'number' && (l.suppressedLines as number) > 0)).toBeDefined();
  });
});

describe('attack: a flood of 60 KB DTMF digits', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', MEDIA_MAX_MESSAGES_PER_SECOND: '100000' });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('does not grow the record or the log, and a normal call alongside keeps every frame', { timeout: 60_000 }, async () => {
    const good = oneUtteranceMulaw();
    const goodCall = simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: good, codec: 'mulaw', tailMs: 1500 });

    const target = await callWebhook({ transport: 'twilio', baseUrl: gw.baseUrl, carrierCallId: 'CAdtmfflood', from: '+1', to: '+2' });
    const ws = await openSocket(target.url);
    const msgs = twilioMessages('MZdtmfflood');
    ws.send(msgs.connected());
    ws.send(msgs.start({ carrierCallId: 'CAdtmfflood', streamId: '', codec: 'mulaw', customParameters: target.parameters }));
    const huge = '7'.repeat(60 * 1024); // under MEDIA_MAX_MESSAGE_BYTES with its JSON envelope
    const FLOOD = 400;
    for (let i = 0; i < FLOOD; i++) {
      ws.send(msgs.dtmf(huge));
      if (i % 50 === 0) ws.send(msgs.dtmf('5')); // a few real keys mixed in
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    // Wait (by counter) until the gateway has seen every flood message.
    const deadline = Date.now() + 30_000;
    while ((await metricValue(gw.gateway, 'voice_gateway_dtmf_rejected_total', { reason: 'not_a_key' })) < FLOOD && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await metricValue(gw.gateway, 'voice_gateway_dtmf_rejected_total', { reason: 'not_a_key' })).toBe(FLOOD);

    const attacker = gw.gateway.calls.list().find((c) => c.carrierCallId === 'CAdtmfflood');
    expect(attacker).toBeDefined();
    const snap = attacker!.snapshot();
    // Only the real keys were recorded; nothing of the 60 KB strings.
    expect(snap.dtmf.map((d) => d.digit)).toEqual(Array(FLOOD / 50).fill('5'));
    expect(JSON.stringify(snap).length).toBeLessThan(16 * 1024);
    // The log: a bounded number of DTMF lines, and none carries the flood's payload.
    const dtmfLines = gw.logs.filter((l) => l.event === 'dtmf_rejected' || l.event === 'dtmf');
    expect(dtmfLines.length).toBeLessThan(60);
    expect(gw.rawLogs.some((l) => l.includes('7777777777'))).toBe(false);
    ws.close();

    const result = await goodCall;
    expect(result.replies).toHaveLength(1);
    const ended = gw.logs.find((l) => l.event === 'call_ended' && l.carrierCallId === result.carrierCallId);
    expect(ended, 'the good call ended with every frame counted').toBeDefined();
    expect(ended!.framesIn).toBe(result.framesSent);
    expect(ended!.framesDropped).toBe(0);
  });
});
