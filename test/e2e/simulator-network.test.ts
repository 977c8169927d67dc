/**
 * The simulated caller plays what real carriers do (issue 12, "How it is proven"): a retried webhook,
 * frames out of order and twice, the egress codec the carrier was told (TeXML bidirectionalCodec),
 * credentials in the stream URL's path as given. The gateway puts the frames back in order and counts
 * what it dropped.
 */
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { simulateCall } from '../../src/simulator/caller.js';
import { encodeAlaw } from '../../src/pipeline/codecs/g711.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

describe('simulated caller with a misbehaving network', () => {
  it('retried TeXML webhook, swapped and duplicated frames, A-law in and mu-law expected back', { timeout: 20_000 }, async () => {
    const keys = nacl.sign.keyPair();
    gw = await startTestGateway({ VAD_ENGINE: 'energy', TELNYX_PUBLIC_KEY: Buffer.from(keys.publicKey).toString('base64'), TELNYX_CODEC: 'PCMA', TELNYX_BIDIRECTIONAL_CODEC: 'PCMU' });
    const result = await simulateCall({
      transport: 'telnyx',
      baseUrl: gw.baseUrl,
      audio: encodeAlaw(new Int16Array(8000 * 2)),
      codec: 'alaw',
      telnyxSecretKey: keys.secretKey,
      webhookRetries: 1,
      network: { swapEvery: 5, duplicateEvery: 7 },
      speed: 4,
      tailMs: 0,
      maxDurationMs: 1800,
    });
    expect(result.framesSent).toBeGreaterThan(50);
    const ended = gw.logs.find((l) => l.event === 'call_ended');
    expect(ended).toBeDefined();
    // Every frame reached the call once, in order: swaps put back, duplicates dropped.
    expect(ended!.framesIn).toBe(result.framesSent);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_reordered_total', { transport: 'telnyx' })).toBeGreaterThan(5);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_late_total', { transport: 'telnyx', kind: 'duplicate' })).toBeGreaterThan(5);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: 'telnyx' })).toBe(0);
  });
});
