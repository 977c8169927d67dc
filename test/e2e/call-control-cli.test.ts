/**
 * `voice-gateway call --outbound URL` as a child process: it waits on the carrier REST fake for the
 * call the gateway places, plays the callee (with a key press), and ends when the API hangs up.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboundRig, TWILIO_AUTH_TOKEN, type OutboundRig } from '../carriers/outbound-rig.js';
import { fixturePath } from '../support/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let rig: OutboundRig;
beforeAll(async () => {
  rig = await startOutboundRig();
});
afterAll(async () => {
  await rig?.close();
});

function cli(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'call', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

describe('voice-gateway call --outbound', () => {
  it.each(['twilio', 'telnyx'] as const)('answers the %s call the gateway places and hangs up when the carrier is told to', { timeout: 90_000 }, async (transport) => {
    const fake = transport === 'twilio' ? rig.twilio : rig.telnyx;
    const run = cli([
      '--outbound', fake.baseUrl,
      '--in', fixturePath('calls/call-quiet.8k.ulaw'),
      '--auth-token', TWILIO_AUTH_TOKEN,
      '--dtmf', '5@400',
      '--tail-ms', '60000',
      '--max-duration-s', '60',
      '--wait-s', '30',
    ]);
    try {
      const placed = await rig.api('POST', '/api/v1/calls', { transport, to: '+15553330001', from: '+15554440002' });
      expect(placed.status, JSON.stringify(placed.body)).toBe(201);
      const callId: string = placed.body.callId;
      const live = await rig.waitFor(callId, (r) => r.state === 'live' && r.dtmf.some((d) => d.direction === 'in') && r.framesOut > 20, 45_000);
      expect(live.dtmf.filter((d) => d.direction === 'in').map((d) => d.digit)).toEqual(['5']);
      expect((await rig.api('POST', `/api/v1/calls/${callId}/hangup`)).status).toBe(200);
      expect(await run.exited, run.stderr()).toBe(0);
      const summary = JSON.parse(run.stdout()) as Record<string, unknown>;
      expect(summary).toMatchObject({
        carrierCallId: placed.body.carrierCallId,
        dtmfSent: '5',
        outbound: { transport, from: '+15554440002', to: '+15553330001' },
        closeCode: 1000,
      });
      expect(summary.turnsHeard).toBeGreaterThanOrEqual(1);
      const r = await rig.record(callId);
      expect(r).toMatchObject({ state: 'ended', endReason: 'api_hangup', direction: 'outbound' });
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  });

  it('refuses --transport or --url alongside --outbound (usage, exit 2)', async () => {
    const run = cli(['--outbound', rig.twilio.baseUrl, '--transport', 'twilio', '--in', fixturePath('calls/call-quiet.8k.ulaw')]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('--outbound');
  });
});
