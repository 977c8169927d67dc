/**
 * What `npm install` on a fresh machine may run and where it runs, read from the committed lockfile:
 * every dependency with an install script is named in package.json's `allowScripts` (npm 12 skips
 * the scripts of any that is not, which would leave @discordjs/opus and better-sqlite3 without their
 * native binaries), and every locked package accepts the Node versions README promises.
 */
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  readonly hasInstallScript?: boolean;
  readonly dev?: boolean;
  readonly engines?: { readonly node?: string } | readonly string[];
}

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  allowScripts: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** `node_modules/a/node_modules/@s/b` -> `@s/b`. */
function packageName(path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

function lockedPackages(): [string, LockEntry][] {
  return Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/') || path.includes('/node_modules/'));
}

function nodeRange(entry: LockEntry): string | undefined {
  return entry.engines && !Array.isArray(entry.engines) ? (entry.engines as { node?: string }).node : undefined;
}

/** The newest Node 20 line README's test command needs (the dev tools' floor: eslint 10, vitest 4). */
const NODE_FOR_TESTS = '20.19.0';

describe('install policy (package.json, package-lock.json)', () => {
  it('names every dependency that has an install script in allowScripts, and lets the native ones run', () => {
    const withScripts = new Set(lockedPackages().filter(([, e]) => e.hasInstallScript).map(([path]) => packageName(path)));
    expect(withScripts.size).toBeGreaterThan(0);
    const unreviewed = [...withScripts].filter((name) => !(name in manifest.allowScripts));
    expect(unreviewed, 'add them to allowScripts in package.json (true to run, false to skip) and say why in README').toEqual([]);
    expect(manifest.allowScripts['@discordjs/opus']).toBe(true);
    expect(manifest.allowScripts['better-sqlite3']).toBe(true);
    // Its script downloads the CUDA execution provider, which the CPU-only VAD never uses.
    expect(manifest.allowScripts['onnxruntime-node']).toBe(false);
  });

  it('locks only packages whose engines accept the Node versions README names', () => {
    const runtimeFloor = semver.minVersion(manifest.engines.node)?.version;
    expect(runtimeFloor).toBe('20.0.0');
    const refused: string[] = [];
    for (const [path, entry] of lockedPackages()) {
      const range = nodeRange(entry);
      if (range === undefined) continue;
      // What the gateway runs on must take the package's own floor; the dev tools, the Node 20 README's tests need.
      const node = entry.dev ? NODE_FOR_TESTS : runtimeFloor!;
      if (!semver.satisfies(node, range)) refused.push(`${packageName(path)} wants node ${range}, not ${node}`);
    }
    expect(refused).toEqual([]);
  });
});
