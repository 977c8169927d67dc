/**
 * Parsing of environment values, with the error wording every variable shares. Nothing here reads
 * `process.env`: src/config.ts does, and hands these functions (and each provider descriptor) the
 * variables as a plain record. Every failure is GW_ERR_CONFIG_INVALID naming the variable.
 */
import { GatewayError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export function invalid(name: string, detail: string): GatewayError {
  return new GatewayError('GW_ERR_CONFIG_INVALID', `${name} ${detail}`);
}

/** The trimmed value; unset and blank are the same (a blank line in an env file means "unset"). */
export function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw invalid(name, `must be a whole number, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw invalid(name, `must be between ${String(min)} and ${String(max)}, got ${raw}`);
  return n;
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw invalid(name, `must be one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = oneOf(env, name, ['true', 'false', '1', '0'], fallback ? 'true' : 'false');
  return raw === 'true' || raw === '1';
}

export function optionalInt(env: Env, name: string, min: number, max: number): number | undefined {
  return str(env, name) === undefined ? undefined : int(env, name, 0, min, max);
}

export function optionalProbability(env: Env, name: string): number | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw invalid(name, `must be a probability in (0, 1], got '${raw}'`);
  return n;
}

export function list(env: Env, name: string): string[] {
  const raw = str(env, name);
  return raw === undefined ? [] : raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** An absolute http(s) URL without trailing slashes. */
export function url(env: Env, name: string, fallback: string): string {
  const raw = str(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw invalid(name, `must be an absolute URL, got '${raw}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(name, `must be an http or https URL, got '${raw}'`);
  }
  return raw.replace(/\/+$/, '');
}

/** `url` when set, else undefined. */
export function optionalUrl(env: Env, name: string): string | undefined {
  return str(env, name) === undefined ? undefined : url(env, name, '');
}

/** A shared service's URL (database, Redis), one of `protocols`; errors never echo its password. */
export function serviceUrl(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw invalid(name, `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL`);
  }
  if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
    throw invalid(name, `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host, got '${parsed.protocol}//${parsed.hostname}'`);
  }
  return raw;
}
