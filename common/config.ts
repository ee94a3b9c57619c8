/**
 * Typed readers for environment variables. Every process reads its settings
 * through these so that a bad value fails at startup with IM_ERR_BAD_CONFIG and
 * the name of the offending variable, instead of surfacing later as NaN.
 */
import { ErrorCode, ImError } from './errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

function badConfig(name: string, problem: string): ImError {
  return new ImError(ErrorCode.BAD_CONFIG, `${name} ${problem}`);
}

/** The trimmed value of `name`, or undefined when unset or blank. */
export function rawFromEnv(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** A string setting; `fallback` when unset. */
export function stringFromEnv(env: Env, name: string, fallback: string): string {
  return rawFromEnv(env, name) ?? fallback;
}

/** A decimal integer in [min, max] (inclusive); `fallback` when unset. */
export function intFromEnv(
  env: Env,
  name: string,
  fallback: number,
  range: { min?: number; max?: number } = {},
): number {
  const raw = rawFromEnv(env, name);
  if (raw === undefined) return fallback;
  if (!/^[+-]?\d+$/.test(raw)) throw badConfig(name, `must be an integer, got "${raw}"`);
  const value = Number(raw);
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw badConfig(name, `must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/** true/false (also 1/0, yes/no, on/off); `fallback` when unset. */
export function boolFromEnv(env: Env, name: string, fallback: boolean): boolean {
  const raw = rawFromEnv(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw badConfig(name, `must be true or false, got "${raw}"`);
}

/**
 * A URL whose scheme is one of `protocols` (given without the colon, e.g.
 * ['mysql', 'mariadb']). Returns undefined when unset; the caller decides what
 * a missing URL means.
 */
export function urlFromEnv(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = rawFromEnv(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badConfig(name, 'is not a valid URL');
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!protocols.includes(scheme)) {
    throw badConfig(name, `must use one of the schemes ${protocols.join(', ')}, got "${scheme}"`);
  }
  if (url.hostname === '') throw badConfig(name, 'has no host');
  return raw;
}

/** Like urlFromEnv, but a missing value is an error. */
export function requiredUrlFromEnv(env: Env, name: string, protocols: readonly string[]): string {
  const url = urlFromEnv(env, name, protocols);
  if (url === undefined) throw badConfig(name, 'is not set');
  return url;
}
