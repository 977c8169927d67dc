/**
 * util/lazy-import.ts, and what it is for: importing the gateway (what `serve` does before it listens)
 * loads none of the SDKs it is not configured to use. A child process records every bare specifier
 * resolved while `src/gateway.ts` is imported.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lazyImport } from '../../src/util/lazy-import.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('lazyImport', () => {
  it('imports once, however many ask, and only when first asked', async () => {
    let loads = 0;
    const load = lazyImport(async () => {
      loads++;
      return { value: 42 };
    });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([load(), load()]);
    expect(await load()).toBe(a);
    expect(b).toBe(a);
    expect(loads).toBe(1);
  });

  it('does not keep a failed import: the next call tries again', async () => {
    let loads = 0;
    const load = lazyImport(async () => {
      loads++;
      if (loads === 1) throw new Error('not there yet');
      return 'loaded';
    });
    await expect(load()).rejects.toThrow('not there yet');
    expect(await load()).toBe('loaded');
    expect(loads).toBe(2);
  });
});

describe('the gateway at start-up', () => {
  it('imports no SDK it is not configured for (werift, telnyx, twilio, deepgram, genai, ioredis, pg)', () => {
    // A resolve hook in the child notes every bare specifier; the gateway module is imported, not run.
    const hook = `data:text/javascript,${encodeURIComponent(`
      export async function resolve(specifier, context, next) {
        if (!/^[./]|^node:|^data:|^file:/.test(specifier)) process.stdout.write('IMPORT ' + specifier + '\\n');
        return next(specifier, context);
      }`)}`;
    const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
    const child = spawnSync(process.execPath, ['--import', register, '--import', 'tsx', '--input-type=module', '-e', "await import('./src/gateway.ts');"], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const imported = new Set(child.stdout.split('\n').filter((l) => l.startsWith('IMPORT ')).map((l) => l.slice('IMPORT '.length)));
    // The check sees the imports: the ones every gateway needs are there.
    expect(imported).toContain('fastify');
    expect(imported).toContain('ws');
    for (const sdk of ['werift', 'telnyx', 'twilio', '@deepgram/sdk', '@google/genai', 'ioredis', 'pg']) expect(imported, sdk).not.toContain(sdk);
  });
});
