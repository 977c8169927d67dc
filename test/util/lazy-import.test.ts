/**
 * util/lazy-import.ts, and what it is for: a gateway imports the SDKs its configuration names before
 * it takes calls, and never the others. A child process makes a gateway and records every bare
 * specifier imported on the way.
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
  // A resolve hook in a child process notes every bare specifier our modules import; the child makes
  // a gateway from the given environment and closes it.
  const hook = `data:text/javascript,${encodeURIComponent(`
    export async function resolve(specifier, context, next) {
      if (!/^[./]|^node:|^data:|^file:/.test(specifier)) process.stdout.write('IMPORT ' + specifier + '\\n');
      return next(specifier, context);
    }`)}`;
  const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
  const script = `
    const { loadConfig } = await import('./src/config.ts');
    const { createGateway } = await import('./src/gateway.ts');
    const gateway = await createGateway(loadConfig({ ...process.env, ...JSON.parse(process.argv[1]) }));
    await gateway.close();`;

  function importsOfAGateway(env: Record<string, string>): Set<string> {
    const child = spawnSync(process.execPath, ['--import', register, '--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify(env)], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    return new Set(child.stdout.split('\n').filter((l) => l.startsWith('IMPORT ')).map((l) => l.slice('IMPORT '.length)));
  }

  const BASE = { PORT: '0', VAD_ENGINE: 'energy', CALL_RECORD_PATH: ':memory:', LOG_LEVEL: 'silent' };

  it('imports what its configuration names and nothing else: echo alone loads no provider or carrier SDK', () => {
    const imported = importsOfAGateway({ ...BASE, PROVIDERS: 'echo' });
    // The check sees the imports: the ones every gateway needs are there, werift too (browser calls are always served).
    for (const always of ['fastify', '@fastify/websocket', 'werift']) expect(imported, always).toContain(always);
    for (const sdk of ['telnyx', 'twilio', '@deepgram/sdk', '@google/genai', 'openai', 'ioredis', 'pg']) expect(imported, sdk).not.toContain(sdk);
  });

  it('imports a named provider\'s and carrier\'s SDK before it takes calls, not at their first use', () => {
    const imported = importsOfAGateway({
      ...BASE,
      PROVIDERS: 'echo,deepgram-cascade,gemini',
      DEEPGRAM_API_KEY: 'dg-test-key',
      LLM_API_KEY: 'sk-llm-test',
      GEMINI_API_KEY: 'gm-test-key',
      TELNYX_API_KEY: 'KEY-test',
    });
    // The cascade's language model speaks through the openai SDK's chat completions, not its Realtime client.
    for (const sdk of ['@deepgram/sdk', '@google/genai', 'telnyx', 'openai']) expect(imported, sdk).toContain(sdk);
    for (const sdk of ['openai/realtime/ws', 'twilio', 'ioredis', 'pg']) expect(imported, sdk).not.toContain(sdk);
  });

  it('imports the OpenAI Realtime client and the Deepgram agent\'s SDK when PROVIDERS names them', () => {
    const imported = importsOfAGateway({ ...BASE, PROVIDERS: 'openai,deepgram,echo', OPENAI_API_KEY: 'sk-test', DEEPGRAM_API_KEY: 'dg-test-key' });
    for (const sdk of ['openai', 'openai/realtime/ws', '@deepgram/sdk']) expect(imported, sdk).toContain(sdk);
    for (const sdk of ['@google/genai', 'telnyx', 'twilio']) expect(imported, sdk).not.toContain(sdk);
  });
});
