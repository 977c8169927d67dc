/** The "external tool this suite needs" helper: find it, else skip loudly, else (CI) fail. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable, lookupTool, requireTool, type ToolSpec } from '../support/requirements.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-req-'));
const exe = join(dir, 'fake-browser');
writeFileSync(exe, '#!/bin/sh\n');
chmodSync(exe, 0o755);
const notExe = join(dir, 'plain-file');
writeFileSync(notExe, '');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC: ToolSpec = { name: 'a test tool', envVar: 'TOOL_PATH', candidates: ['no-such-tool-x', 'fake-browser'], install: 'apt-get install tool' };

describe('requirements helper', () => {
  it('finds a candidate on PATH, in order, and only executable files', () => {
    expect(findExecutable(['no-such-tool-x', 'fake-browser'], { PATH: `/nonexistent:${dir}` })).toBe(exe);
    expect(findExecutable(['plain-file'], { PATH: dir })).toBeUndefined();
    expect(findExecutable([exe], { PATH: '' })).toBe(exe);
  });

  it('prefers the env variable, and says so when it points at nothing usable', () => {
    expect(lookupTool(SPEC, { TOOL_PATH: exe, PATH: '' }).path).toBe(exe);
    const bad = lookupTool(SPEC, { TOOL_PATH: notExe, PATH: dir });
    expect(bad.path).toBeUndefined();
    expect(bad.reason).toContain('TOOL_PATH');
  });

  it('skips loudly with the install hint when missing', () => {
    const said: string[] = [];
    const found = requireTool(SPEC, { PATH: '' }, (t) => said.push(t));
    expect(found.path).toBeUndefined();
    expect(said.join('')).toContain('SKIPPING');
    expect(said.join('')).toContain('apt-get install tool');
  });

  it('fails instead of skipping under VOICE_GATEWAY_REQUIRE_SERVICES=1', () => {
    const said: string[] = [];
    expect(() => requireTool(SPEC, { PATH: '', VOICE_GATEWAY_REQUIRE_SERVICES: '1' }, (t) => said.push(t))).toThrow(/apt-get install tool.*failure/);
    expect(said).toHaveLength(0);
    expect(requireTool(SPEC, { PATH: dir, VOICE_GATEWAY_REQUIRE_SERVICES: '1' }).path).toBe(exe);
  });
});
