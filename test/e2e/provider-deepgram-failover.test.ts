/**
 * Failover between the Deepgram Voice Agent and OpenAI Realtime through a real gateway, both ways,
 * with the conversation carried: out of Deepgram from its ConversationText events (OpenAI gets them
 * as conversation items), into Deepgram as Settings context messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateCall } from '../../src/simulator/caller.js';
import { DeepgramAgentFake } from '../fakes/deepgram-agent-fake.js';
import { OpenAIRealtimeFake } from '../fakes/openai-realtime-fake.js';
import { readBytes } from '../support/fixtures.js';
import { startTestGateway } from '../support/gateway.js';

async function until(cond: () => boolean, ms: number, what: string) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('failover deepgram <-> openai with history', () => {
  let openai: OpenAIRealtimeFake;
  let deepgram: DeepgramAgentFake;
  beforeAll(async () => {
    openai = await OpenAIRealtimeFake.start({ userTranscript: 'what time is it', replyTranscript: 'it is noon' });
    deepgram = await DeepgramAgentFake.start({ apiKey: 'dg-key', transcript: 'read me the card', reply: () => 'Your card is the ace.' });
  });
  afterAll(async () => {
    await openai.close();
    await deepgram.close();
  });

  it('deepgram -> openai -> deepgram in one call, each taking over the conversation so far', { timeout: 60_000 }, async () => {
    const gw = await startTestGateway({
      PROVIDERS: 'deepgram,openai',
      OPENAI_API_KEY: openai.apiKey,
      OPENAI_BASE_URL: openai.baseUrl,
      OPENAI_CA_FILE: openai.caFile,
      DEEPGRAM_API_KEY: 'dg-key',
      DEEPGRAM_BASE_URL: deepgram.url,
      VAD_ENGINE: 'energy',
      PROVIDER_RESPONSE_TIMEOUT_MS: '4000',
    });
    try {
      const call = simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: readBytes('calls/call-quiet.8k.ulaw'), codec: 'mulaw', tailMs: 2500 });
      await until(() => gw.gateway.calls.size === 1, 5000, 'the call');
      const live = gw.gateway.calls.list()[0];
      const post = (provider: string) =>
        fetch(`${gw.baseUrl}/api/v1/calls/${live.id}/provider`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider }) });

      await until(() => live.history.some((t) => t.role === 'assistant'), 20_000, 'the agent answer');
      const fromDeepgram = live.history.map((h) => [h.role, h.text]);
      expect(fromDeepgram.slice(0, 2)).toEqual([
        ['user', 'read me the card'],
        ['assistant', 'Your card is the ace.'],
      ]);
      expect((await post('openai')).status).toBe(200);
      // OpenAI got Deepgram's ConversationText turns as conversation items.
      await until(() => openai.messages.some((m) => m.type === 'conversation.item.create'), 5000, 'openai history');
      const items = openai.messages
        .filter((m) => m.type === 'conversation.item.create')
        .map((m) => {
          const item = m.item as { role: string; content: { text: string }[] };
          return [item.role, item.content[0].text];
        });
      expect(items.slice(0, 2)).toEqual(fromDeepgram.slice(0, 2));

      await until(() => live.history.filter((t) => t.role === 'assistant').length >= 2, 30_000, 'the openai answer');
      const beforeBack = live.history.map((h) => [h.role, h.text]);
      expect((await post('deepgram')).status).toBe(200);
      await until(() => deepgram.conns.length === 2 && deepgram.last.settings !== undefined, 5000, 'the second agent session');
      const ctx = ((deepgram.last.settings?.agent as { context?: { messages?: { role: string; content: string }[] } }).context?.messages ?? []).map((m) => [m.role, m.content]);
      expect(ctx).toEqual(beforeBack);
      await call;
      expect(live.snapshot().providersUsed).toEqual(['deepgram', 'openai', 'deepgram']);
    } finally {
      await gw.close();
    }
  });
});
