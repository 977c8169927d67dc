/** The calls block of the configuration: defaults that need nothing, and clear refusals. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('calls configuration', () => {
  it('needs nothing: a SQLite file under ./data, 30 days, callbacks and DTMF text on', () => {
    expect(loadConfig({}).calls).toEqual({
      recordPath: './data/calls.sqlite',
      recordDays: 30,
      recordStaleMs: 15_000,
      twilioAccountSid: undefined,
      twilioApiBaseUrl: undefined,
      telnyxConnectionId: undefined,
      carrierTimeoutMs: 10_000,
      ringTimeoutS: 30,
      statusCallbacks: true,
      dtmfToProvider: true,
    });
  });

  it('reads every variable', () => {
    const sid = `AC${'a1'.repeat(16)}`;
    const c = loadConfig({
      CALL_RECORD_PATH: ':memory:',
      CALL_RECORD_DAYS: '7',
      CALL_RECORD_STALE_MS: '4000',
      TWILIO_ACCOUNT_SID: sid,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9999/',
      TELNYX_CONNECTION_ID: '1234',
      CARRIER_API_TIMEOUT_MS: '2500',
      CALL_RING_TIMEOUT_S: '20',
      CALL_STATUS_CALLBACKS: 'false',
      DTMF_TO_PROVIDER: '0',
    }).calls;
    expect(c).toEqual({
      recordPath: ':memory:',
      recordDays: 7,
      recordStaleMs: 4000,
      twilioAccountSid: sid,
      twilioApiBaseUrl: 'http://127.0.0.1:9999',
      telnyxConnectionId: '1234',
      carrierTimeoutMs: 2500,
      ringTimeoutS: 20,
      statusCallbacks: false,
      dtmfToProvider: false,
    });
  });

  it.each([
    [{ CALL_RECORD_DAYS: '0' }, /CALL_RECORD_DAYS/],
    // Under two missed heartbeats (one a second) a live process would see its own calls swept.
    [{ CALL_RECORD_STALE_MS: '1000' }, /CALL_RECORD_STALE_MS/],
    [{ TWILIO_ACCOUNT_SID: 'AC123' }, /TWILIO_ACCOUNT_SID/],
    [{ TWILIO_API_BASE_URL: 'api.twilio.com' }, /TWILIO_API_BASE_URL/],
    [{ CARRIER_API_TIMEOUT_MS: '10' }, /CARRIER_API_TIMEOUT_MS/],
    [{ CALL_RING_TIMEOUT_S: '1' }, /CALL_RING_TIMEOUT_S/],
    [{ CALL_STATUS_CALLBACKS: 'maybe' }, /CALL_STATUS_CALLBACKS/],
    [{ DTMF_TO_PROVIDER: 'yes please' }, /DTMF_TO_PROVIDER/],
  ])('refuses %o naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});
