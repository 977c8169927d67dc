import { describe, expect, it } from 'vitest';
import { CarrierCallError, carrierErrorOutcome } from '../../src/carriers/carrier-errors.js';
import { commandStatus } from '../../src/carriers/telnyx/call-control.js';
import { GatewayError } from '../../src/errors.js';

const telnyx = (code: 'GW_ERR_CALL_CARRIER_REJECTED' | 'GW_ERR_CALL_CARRIER_TIMEOUT' | 'GW_ERR_CALL_CARRIER_UNREACHABLE', own?: string) =>
  new CarrierCallError(code, { name: 'telnyx', op: 'hangup', status: own ? 422 : undefined, code: own, message: 'x' });

describe('carrier error outcome (one mapping for call-control outcome and Telnyx command status)', () => {
  it.each([
    [new GatewayError('GW_ERR_CALL_CARRIER_REJECTED', 'x'), 'rejected'],
    [new GatewayError('GW_ERR_CALL_CARRIER_TIMEOUT', 'x'), 'timeout'],
    [new GatewayError('GW_ERR_CALL_CARRIER_UNREACHABLE', 'x'), 'unreachable'],
    [new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', 'x'), 'not_configured'],
    [new GatewayError('GW_ERR_CONFIG_INVALID', 'x'), 'error'],
    [new Error('boom'), 'error'],
    [undefined, 'error'],
  ])('%s -> %s', (err, outcome) => {
    expect(carrierErrorOutcome(err)).toBe(outcome);
  });

  it('Telnyx command status: ok, gone for 90018, the shared outcome for REST errors, error for anything else', () => {
    expect(commandStatus(undefined)).toBe('ok');
    expect(commandStatus(telnyx('GW_ERR_CALL_CARRIER_REJECTED', '90018'))).toBe('gone');
    expect(commandStatus(telnyx('GW_ERR_CALL_CARRIER_REJECTED', '10015'))).toBe('rejected');
    expect(commandStatus(telnyx('GW_ERR_CALL_CARRIER_TIMEOUT'))).toBe('timeout');
    expect(commandStatus(telnyx('GW_ERR_CALL_CARRIER_UNREACHABLE'))).toBe('unreachable');
    // A GatewayError that is not the REST client's own stays 'error', as before the merge.
    expect(commandStatus(new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', 'x'))).toBe('error');
    expect(commandStatus(new Error('boom'))).toBe('error');
  });
});
