/**
 * External tools and services a test file needs (a browser, promtool, coturn; later redis, postgres).
 * On a developer's machine a missing one skips the tests that need it, with a loud notice naming how
 * to install it, so `npm test` passes on a fresh clone. CI sets VOICE_GATEWAY_REQUIRE_SERVICES=1
 * (`.ci/run` does): there a missing tool fails the file instead, so CI can never go green by skipping.
 *
 * Usage, at the top of a test file:
 *   const chrome = requireTool(CHROMIUM);
 *   describe.skipIf(!chrome.path)('...', () => { ... chrome.path! ... });
 */
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** The variable that turns "missing, skipped" into "missing, failed". */
export const REQUIRE_SERVICES_VAR = 'VOICE_GATEWAY_REQUIRE_SERVICES';

export interface ToolSpec {
  /** What it is, for people: 'a Chromium-family browser'. */
  readonly name: string;
  /** An environment variable holding an explicit path, looked at first (e.g. CHROME_PATH). */
  readonly envVar?: string;
  /** Executable names (or absolute paths) to look for on PATH, in order. */
  readonly candidates: readonly string[];
  /** How to install it, shown when it is missing. */
  readonly install: string;
}

export interface ToolLookup {
  /** Absolute path of the executable found, or undefined when missing (the tests skip). */
  readonly path: string | undefined;
  /** Why it is missing, in words; empty when found. */
  readonly reason: string;
}

type Env = Record<string, string | undefined>;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first candidate that is an executable file: absolute paths as given, names along PATH. */
export function findExecutable(candidates: readonly string[], env: Env = process.env): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const name of candidates) {
    if (isAbsolute(name)) {
      if (isExecutableFile(name)) return name;
      continue;
    }
    for (const dir of dirs) {
      const path = join(dir, name);
      if (isExecutableFile(path)) return path;
    }
  }
  return undefined;
}

/** Looks a tool up without side effects: the env variable's path first, then the candidates on PATH. */
export function lookupTool(spec: ToolSpec, env: Env = process.env): ToolLookup {
  const explicit = spec.envVar ? env[spec.envVar]?.trim() : undefined;
  if (explicit) {
    if (isExecutableFile(explicit)) return { path: explicit, reason: '' };
    return { path: undefined, reason: `${spec.envVar}=${explicit} is not an executable file` };
  }
  const path = findExecutable(spec.candidates, env);
  if (path) return { path, reason: '' };
  const where = spec.envVar ? `${spec.envVar} is not set and none of ` : 'none of ';
  return { path: undefined, reason: `${where}${spec.candidates.join(', ')} is on PATH` };
}

export function servicesRequired(env: Env = process.env): boolean {
  const v = env[REQUIRE_SERVICES_VAR]?.trim().toLowerCase();
  return v === '1' || v === 'true';
}

/**
 * Finds a tool, or says loudly that the tests needing it are skipped, or (under
 * VOICE_GATEWAY_REQUIRE_SERVICES=1) throws, which fails the test file that asked.
 */
export function requireTool(spec: ToolSpec, env: Env = process.env, warn: (text: string) => void = console.warn): ToolLookup {
  const found = lookupTool(spec, env);
  if (found.path) return found;
  const text = `${spec.name} not found (${found.reason}). Install it: ${spec.install}.`;
  if (servicesRequired(env)) {
    throw new Error(`${text} ${REQUIRE_SERVICES_VAR}=1 is set, so this is a failure, not a skip.`);
  }
  const bar = '!'.repeat(100);
  warn(`\n${bar}\n!! SKIPPING tests that need ${spec.name}: ${text}\n!! Set ${REQUIRE_SERVICES_VAR}=1 to make this a failure (CI does).\n${bar}\n`);
  return found;
}

// The tools this project's suites need, described once.

export const CHROMIUM: ToolSpec = {
  name: 'a Chromium-family browser',
  envVar: 'CHROME_PATH',
  candidates: ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'],
  install: '`apt-get install -y chromium` (Debian/Ubuntu), or set CHROME_PATH to an installed Chrome or Chromium',
};

export const PROMTOOL: ToolSpec = {
  name: 'promtool (Prometheus)',
  envVar: 'PROMTOOL_PATH',
  candidates: ['promtool'],
  install: "`apt-get install -y prometheus` (Debian/Ubuntu ship promtool in it), or a release from prometheus.io on PATH",
};

export const TURNSERVER: ToolSpec = {
  name: 'coturn (turnserver)',
  envVar: 'TURNSERVER_PATH',
  candidates: ['turnserver'],
  install: '`apt-get install -y coturn` (Debian/Ubuntu), or set TURNSERVER_PATH',
};

export const REDIS_SERVER: ToolSpec = {
  name: 'redis-server',
  envVar: 'REDIS_SERVER_PATH',
  candidates: ['redis-server'],
  install: '`apt-get install -y redis-server` (Debian/Ubuntu), or set REDIS_SERVER_PATH',
};

/** Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin: newest first. */
function postgresBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin/initdb`);
  } catch {
    return [];
  }
}

/** initdb; `postgres` is looked for beside it. */
export const POSTGRES_INITDB: ToolSpec = {
  name: 'PostgreSQL (initdb, postgres)',
  envVar: 'POSTGRES_INITDB_PATH',
  candidates: [...postgresBinDirs(), 'initdb'],
  install: '`apt-get install -y postgresql` (Debian/Ubuntu), or set POSTGRES_INITDB_PATH to its initdb',
};
