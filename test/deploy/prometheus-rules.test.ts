/**
 * deploy/prometheus/alerts.yml is valid (`promtool check rules`) and each alert fires, and stays
 * quiet, exactly as its unit test in alerts.test.yml says (`promtool test rules`). Needs promtool:
 * skipped loudly without it, a failure under VOICE_GATEWAY_REQUIRE_SERVICES=1 (CI).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROMTOOL, requireTool } from '../support/requirements.js';

const run = promisify(execFile);
const promtool = requireTool(PROMTOOL);

async function promtoolRun(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(promtool.path!, args, { cwd: 'deploy/prometheus', timeout: 30_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe.skipIf(!promtool.path)('Prometheus alert rules (promtool)', () => {
  it('promtool check rules accepts alerts.yml', async () => {
    const r = await promtoolRun(['check', 'rules', 'alerts.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules passes every alert unit test', async () => {
    const r = await promtoolRun(['test', 'rules', 'alerts.test.yml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });
});
