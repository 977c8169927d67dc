import { afterEach, describe, expect, it, vi } from 'vitest';
import { CarrierLegs } from '../../../src/carriers/telnyx/legs.js';
import { CarrierCallError } from '../../../src/carriers/carrier-errors.js';
import type { TelnyxCallControl } from '../../../src/carriers/telnyx/call-control.js';
import { silentLogger } from '../../../src/observability/logger.js';

function fakeTelnyx(answer: (id: string) => Promise<void> = async () => undefined) {
  const hangups: string[] = [];
  const control: TelnyxCallControl = {
    answerWithStream: async () => undefined,
    dial: async () => ({ callControlId: 'x', callSessionId: undefined }),
    hangup: async (id) => {
      hangups.push(id);
      await answer(id);
    },
    sendDtmf: async () => undefined,
  };
  return { control, hangups };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('carrier legs (Telnyx Call Control)', () => {
  it('hangs a leg up once, whichever paths ask, and keeps the first reason', async () => {
    const t = fakeTelnyx();
    const legs = new CarrierLegs({ telnyx: t.control, logger: silentLogger() });
    await Promise.all([legs.hangup('v3:a', 'api_hangup'), legs.hangup('v3:a', 'socket_closed')]);
    legs.ended('v3:a', 'shutdown');
    await legs.close();
    expect(t.hangups).toEqual(['v3:a']);
    expect(legs.hungUpFor('v3:a')).toBe('api_hangup');
  });

  it.each(['shutdown', 'all_providers_down', 'provider_goodbye', 'socket_closed', 'api_hangup', 'unsupported_codec'])(
    'a call ended on our side (%s) hangs its leg up',
    async (reason) => {
      const t = fakeTelnyx();
      const legs = new CarrierLegs({ telnyx: t.control, logger: silentLogger() });
      legs.ended('v3:b', reason);
      await legs.close();
      expect(t.hangups).toEqual(['v3:b']);
      expect(legs.hungUpFor('v3:b')).toBe(reason);
    },
  );

  it.each(['carrier_hangup', 'caller_hangup'])('a call the carrier ended (%s) sends no hangup', async (reason) => {
    const t = fakeTelnyx();
    const legs = new CarrierLegs({ telnyx: t.control, logger: silentLogger() });
    legs.ended('v3:c', reason);
    await legs.close();
    expect(t.hangups).toEqual([]);
  });

  it('treats "call has already ended" (90018) as done, and lets a failed hangup be tried again', async () => {
    let fail: CarrierCallError | undefined = new CarrierCallError('GW_ERR_CALL_CARRIER_REJECTED', { name: 'telnyx', op: 'hangup', status: 422, code: '90018', message: 'Call has already ended' });
    const t = fakeTelnyx(async () => {
      const f = fail;
      fail = undefined;
      if (f) throw f;
    });
    const legs = new CarrierLegs({ telnyx: t.control, logger: silentLogger() });
    await expect(legs.hangup('v3:d', 'api_hangup')).resolves.toBeUndefined();
    fail = new CarrierCallError('GW_ERR_CALL_CARRIER_TIMEOUT', { name: 'telnyx', op: 'hangup', message: 'no answer' });
    await expect(legs.hangup('v3:e', 'api_hangup')).rejects.toMatchObject({ code: 'GW_ERR_CALL_CARRIER_TIMEOUT' });
    await expect(legs.hangup('v3:e', 'api_hangup')).resolves.toBeUndefined();
    expect(t.hangups).toEqual(['v3:d', 'v3:e', 'v3:e']);
  });

  it('hangs up a leg whose stream never starts, and not one whose stream did', async () => {
    vi.useFakeTimers();
    const t = fakeTelnyx();
    const legs = new CarrierLegs({ telnyx: t.control, logger: silentLogger() });
    legs.awaitStream('v3:silent', 1000);
    legs.awaitStream('v3:ok', 1000);
    legs.streaming('v3:ok');
    await vi.advanceTimersByTimeAsync(1001);
    expect(t.hangups).toEqual(['v3:silent']);
    expect(legs.hungUpFor('v3:silent')).toBe('stream_not_opened');
  });
});
