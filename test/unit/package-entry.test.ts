import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import { readBytes, readS16 } from '../support/fixtures.js';

// The package's main entry is what library users import; these names are a promise to them.
describe('package entry (src/index.ts → dist/index.js)', () => {
  it('is what package.json points "main" and "exports" at', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      main: string; exports: { '.': { import: string } };
    };
    expect(pkg.main).toBe('dist/index.js');
    expect(pkg.exports['.'].import).toBe('./dist/index.js');
  });

  it('exports the G.711 codecs with the promised shapes, matching sox on a fixture', () => {
    const ulaw = readBytes('g711/cards-001.ulaw');
    const decoded = api.decodeMulaw(ulaw);
    expect(decoded).toBeInstanceOf(Int16Array);
    expect(decoded).toEqual(readS16('g711/cards-001.ulaw.s16'));
    // Decoded levels are fixed points of encode → decode (both zero codes decode to 0).
    expect(api.decodeMulaw(api.encodeMulaw(decoded))).toEqual(decoded);
    const alaw = api.encodeAlaw(decoded);
    expect(alaw).toBeInstanceOf(Uint8Array);
    expect(api.decodeAlaw(alaw).length).toBe(decoded.length);
  });

  it('exports a streaming Resampler that states its delay', () => {
    const r = new api.Resampler({ from: 8000, to: 16000 });
    const out = [r.process(new Int16Array(160)), r.process(new Int16Array(160)), r.flush()];
    // flush() lets the filter's tail out: exactly the stated delay more than 2 × 160 × 2.
    expect(out.reduce((n, o) => n + o.length, 0)).toBe(640 + r.delaySamples);
    expect(r.delayMs).toBeGreaterThan(0);
  });

  it('exports the gateway, VAD, errors and observability building blocks', () => {
    for (const name of [
      'createGateway', 'buildApp', 'loadConfig', 'createMetrics', 'createLogger', 'createVadService',
      'createWorkerPool', 'TurnDetector', 'readWav', 'writeWav', 'simulateCall', 'GatewayError', 'applyV8Flags', 'gatewayV8Flags',
    ] as const) {
      expect(typeof api[name], name).toBe('function');
    }
    expect(() => api.decodeL16(new Uint8Array(3))).toThrow(api.GatewayError);
  });
});
